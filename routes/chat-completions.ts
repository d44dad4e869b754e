// chat-completions.ts - POST /v1/chat/completions: messages through the chat template, n
// choices, streamed as chat.completion.chunk events (role first) or returned whole.
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
import { jsonBody } from "../src/server/validate.ts";

export function chatCompletionsRoutes(state: ServerState): Hono<{ Variables: RequestIdVariables }> {
  return new Hono<{ Variables: RequestIdVariables }>().post("/chat/completions", jsonBody(chatRequest), async (c) => {
    const startedAt = performance.now();
    const req = c.req.valid("json");
    const engine = state.engine();
    const model = state.resolveModel(req.model);
    const top = req.logprobs ? (req.top_logprobs ?? 0) : null;
    // the grammar (bounded: milliseconds) before the prompt (the template and tokenizer)
    const sampler = await inTurn(() => samplerFor(req, engine.info.nVocab, top, state.config));
    const prompt = await chatPrompt(engine, req.messages, state.config.maxPromptBytes);
    logPrompts(state, c.get("requestId"), [prompt]);
    const maxTokens = completionBudget(prompt.length, req.max_completion_tokens ?? req.max_tokens, engine.info.nCtx, "messages");
    const n = req.n ?? 1;
    const specs = choiceSpecs([prompt], n, sampler, req.seed, {
      maxTokens: [maxTokens],
      draft: state.config.draft && (req.redrafter?.draft ?? true),
      stops: stopStrings(req.stop),
    });
    const run = new Run(engine, specs, c.req.raw.signal, startedAt, state.metrics);
    const lp = top === null ? null : new LogprobShaper((t) => engine.tokenBytes(t), top);
    const shape: EndpointShape = {
      object: "chat.completion",
      chunkObject: "chat.completion.chunk",
      streamStart: (index) => ({ index, delta: { role: "assistant", content: "" }, logprobs: null, finish_reason: null }),
      streamChoice: (d) => ({
        index: d.index,
        delta: d.text ? { content: d.text } : {},
        logprobs: lp?.chat(d.tokens) ?? null,
        finish_reason: d.finish,
      }),
      choice: (a) => ({
        index: a.index,
        message: { role: "assistant", content: a.text, refusal: null },
        logprobs: lp?.chat(a.tokens) ?? null,
        finish_reason: a.finish ?? "stop",
      }),
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
