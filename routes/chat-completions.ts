// chat-completions.ts - POST /v1/chat/completions: messages through the chat template, n
// choices, streamed as chat.completion.chunk events (role first) or returned whole; with tools,
// each choice's text goes through a tool-call parser (src/server/tools/).
import { Hono } from "hono";
import type { RequestIdVariables } from "hono/request-id";
import { LogprobShaper } from "../src/server/logprobs.ts";
import { logPrompts } from "../src/server/log-prompts.ts";
import { chatPrompt, completionBudget, inTurn } from "../src/server/prompt.ts";
import { respond, type EndpointShape } from "../src/server/respond.ts";
import { choiceSpecs, Run } from "../src/server/run.ts";
import { samplerFor, stopStrings } from "../src/server/sampling.ts";
import { chatRequest } from "../src/server/schemas.ts";
import type { ServerState } from "../src/server/state.ts";
import { toolDelta, toolFinishReason, toolMessage } from "../src/server/tools/message.ts";
import type { ToolCallParser } from "../src/server/tools/parse.ts";
import { toolPlan } from "../src/server/tools/plan.ts";
import { jsonBody } from "../src/server/validate.ts";

export function chatCompletionsRoutes(state: ServerState): Hono<{ Variables: RequestIdVariables }> {
  return new Hono<{ Variables: RequestIdVariables }>().post("/chat/completions", jsonBody(chatRequest), async (c) => {
    const startedAt = performance.now();
    const req = c.req.valid("json");
    const { engine, model } = await state.use(c, req.model);
    const top = req.logprobs ? (req.top_logprobs ?? 0) : null;
    // the grammars (bounded: milliseconds) before the prompt (the template and tokenizer); a
    // forced tool call's grammar takes the sampler's place
    const [sampler, tools] = await inTurn(() => {
      const plan = toolPlan(req, engine.info.chatTemplate, state.config);
      const params = samplerFor(req, engine.info.nVocab, top, state.config);
      return [plan?.grammar ? { ...params, grammar: plan.grammar } : params, plan] as const;
    });
    const prompt = await chatPrompt(engine, req.messages, state.config.maxPromptBytes, tools?.prompt ?? null);
    logPrompts(state, engine, c.get("requestId"), [prompt]);
    const maxTokens = completionBudget(prompt.length, req.max_completion_tokens ?? req.max_tokens, engine.info.nCtx, "messages");
    const n = req.n ?? 1;
    const specs = choiceSpecs([prompt], n, sampler, req.seed, {
      maxTokens: [maxTokens],
      draft: state.config.draft && (req.redrafter?.draft ?? true),
      stops: stopStrings(req.stop),
    });
    const run = new Run(engine, specs, c.req.raw.signal, startedAt, state.metrics);
    const lp = top === null ? null : new LogprobShaper((t) => engine.tokenBytes(t), top);
    const parsers = new Map<number, ToolCallParser>(); // per choice, while it streams
    const parserOf = (index: number) => {
      if (!tools?.parser) return null;
      if (!parsers.has(index)) parsers.set(index, tools.parser());
      return parsers.get(index)!;
    };
    const shape: EndpointShape = {
      object: "chat.completion",
      chunkObject: "chat.completion.chunk",
      streamStart: (index) => ({ index, delta: { role: "assistant", content: "" }, logprobs: null, finish_reason: null }),
      streamChoice: (d) => {
        const parser = parserOf(d.index);
        if (!parser) return { index: d.index, delta: d.text ? { content: d.text } : {}, logprobs: lp?.chat(d.tokens) ?? null, finish_reason: d.finish };
        const events = parser.push(d.text);
        if (d.finish !== null) events.push(...parser.finish());
        return {
          index: d.index,
          delta: toolDelta(events),
          logprobs: lp?.chat(d.tokens) ?? null,
          finish_reason: d.finish && toolFinishReason(d.finish, parser),
        };
      },
      choice: (a) => {
        const parser = parserOf(a.index);
        const finish = a.finish ?? "stop";
        return {
          index: a.index,
          message: { role: "assistant", ...(parser ? toolMessage(parser, a.text) : { content: a.text }), refusal: null },
          logprobs: lp?.chat(a.tokens) ?? null,
          finish_reason: parser ? toolFinishReason(finish, parser) : finish,
        };
      },
    };
    return respond(c, run, shape, {
      id: `chatcmpl-${c.get("requestId")}`,
      model,
      created: Math.floor(Date.now() / 1000),
      promptTokens: prompt.length,
      choices: specs.length,
      stream: req.stream ?? false,
      includeUsage: req.stream_options?.include_usage ?? false,
    }, state.metrics);
  });
}
