// completions.ts - POST /v1/completions (legacy): prompt as text, texts, token ids or lists of
// them; n choices per prompt; echo, with the prompt's own log-probs when logprobs is set
// (max_tokens 0: scoring); log-probs in the legacy parallel-array shape; `suffix`
// (fill-in-the-middle) on models with FIM tokens.
import { Hono } from "hono";
import type { RequestIdVariables } from "hono/request-id";
import { detokenize } from "../src/server/detokenizer.ts";
import { ApiError } from "../src/server/errors.ts";
import { logPrompts } from "../src/server/log-prompts.ts";
import { joinLogprobs, LogprobShaper } from "../src/server/logprobs.ts";
import { completionBudget, completionPrompts, fimPrompts, inTurn } from "../src/server/prompt.ts";
import { respond, type EndpointShape } from "../src/server/respond.ts";
import { choiceSpecs, Run, type ChoiceDelta } from "../src/server/run.ts";
import { samplerFor, stopStrings } from "../src/server/sampling.ts";
import { completionRequest, type CompletionRequest } from "../src/server/schemas.ts";
import type { ServerState } from "../src/server/state.ts";
import { jsonBody } from "../src/server/validate.ts";

/** The prompt field as a list of prompts (text or token ids). */
function promptList(p: CompletionRequest["prompt"]): (string | number[])[] {
  if (typeof p === "string") return [p];
  if (typeof p[0] === "number") return [p as number[]];
  return p as (string | number[])[];
}

export function completionsRoutes(state: ServerState): Hono<{ Variables: RequestIdVariables }> {
  return new Hono<{ Variables: RequestIdVariables }>().post("/completions", jsonBody(completionRequest), async (c) => {
    const startedAt = performance.now();
    const req = c.req.valid("json");
    const { engine, model } = await state.use(c, req.model);
    const n = req.n ?? 1;
    if (req.best_of && req.best_of !== n) {
      throw ApiError.invalid("best_of other than n is not supported (choices are not ranked)", "best_of");
    }
    const top = req.logprobs ?? null;
    // the grammar (bounded: milliseconds) before the prompts (the tokenizer)
    const sampler = await inTurn(() => samplerFor(req, engine.info.nVocab, top, state.config));
    const raw = promptList(req.prompt);
    const prompts = typeof req.suffix === "string"
      ? await fimPrompts(engine, raw, req.suffix, state.config.maxPromptBytes)
      : await completionPrompts(engine, raw, state.config.maxPromptBytes);
    logPrompts(state, engine, c.get("requestId"), prompts);
    const budgets = prompts.map((p) => completionBudget(p.length, req.max_tokens, engine.info.nCtx, "prompt"));
    const specs = choiceSpecs(prompts, n, sampler, req.seed, {
      maxTokens: budgets,
      draft: state.config.draft && (req.redrafter?.draft ?? true),
      stops: stopStrings(req.stop),
      // echo with logprobs: the worker scores the prompt before generating
      ...(req.echo && top !== null ? { promptLogprobs: top } : {}),
    });
    const run = new Run(engine, specs, c.req.raw.signal, startedAt, state.metrics);
    const bytes = (t: number) => engine.tokenBytes(t);
    // echo: the prompt as text, the start of every choice of its prompt
    const echo = raw.map((p) => (!req.echo ? "" : typeof p === "string" ? p : detokenize(bytes, p)));
    const echoOf = (index: number) => echo[Math.floor(index / n)]!;
    const lp = top === null ? null : new LogprobShaper(bytes, top);
    // a choice's log-probs; with echo, its prompt's first (the worker's scores, which arrive
    // before the choice's first delta)
    const logprobsOf = (index: number, tokens: ChoiceDelta["tokens"], withPrompt: boolean) => {
      if (!lp) return null;
      const own = lp.completion(tokens, echoOf(index).length);
      if (!withPrompt) return own;
      return joinLogprobs(lp.prompt(prompts[Math.floor(index / n)]!, run.promptLogprobs[index] ?? []), own);
    };
    // streamed, the echo rides on each choice's first chunk, with the prompt's log-probs
    const started = new Set<number>();
    const shape: EndpointShape = {
      object: "text_completion",
      chunkObject: "text_completion",
      streamChoice: (d) => {
        const first = !!req.echo && !started.has(d.index);
        started.add(d.index);
        return {
          index: d.index,
          text: (first ? echoOf(d.index) : "") + d.text,
          logprobs: logprobsOf(d.index, d.tokens, first),
          finish_reason: d.finish,
        };
      },
      choice: (a) => ({
        index: a.index,
        text: echoOf(a.index) + a.text,
        logprobs: logprobsOf(a.index, a.tokens, !!req.echo),
        finish_reason: a.finish ?? "stop",
      }),
    };
    return respond(c, run, shape, {
      id: `cmpl-${c.get("requestId")}`,
      model,
      created: Math.floor(Date.now() / 1000),
      promptTokens: prompts.reduce((a, p) => a + p.length, 0),
      choices: specs.length,
      stream: req.stream ?? false,
      includeUsage: req.stream_options?.include_usage ?? false,
    }, state.metrics);
  });
}
