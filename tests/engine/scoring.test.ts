// scoring.test.ts - prompt log-probs (GenerateRequest.promptLogprobs, rd_session_prompt_logprobs
// in the slot worker) on the tiny model: a prompt token scores what the engine reported when it
// generated that token (greedy, speculative), with the same top alternatives; maxTokens 0 scores
// without generating; a prompt longer than the context is refused.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { Engine, EngineError } from "../../src/engine/engine.ts";
import { defaultSampler, type GenerateRequest, type StepEvent, type TokenLogprob } from "../../src/engine/types.ts";
import { BUILD_TIMEOUT_MS, makeTinyModel, type TinyModel } from "../helpers/tiny-model.ts";

let tiny: TinyModel;
let engine: Engine;

beforeAll(async () => {
  tiny = makeTinyModel();
  engine = await Engine.load({
    model: tiny.model, drafter: tiny.drafter, nCtx: 256, beamWidth: 4, beamLength: 4, nGpuLayers: 0, device: null,
    threads: 1, flashAttn: 0, kvF32: true, batchInvariant: false, adaptive: false, slots: 1, queueSize: 4,
  });
}, BUILD_TIMEOUT_MS);

afterAll(async () => {
  await engine?.close();
  tiny?.cleanup();
});

const N_PROBS = 3;

async function run(req: Partial<GenerateRequest> & { prompt: number[] }) {
  const job = engine.generate({ maxTokens: 16, draft: true, sampler: { ...defaultSampler, n_probs: N_PROBS, ignore_eos: true }, ...req });
  const events: StepEvent[] = [];
  for await (const ev of job) events.push(ev);
  return { job, tokens: events.flatMap((e) => e.tokens), logprobs: events.flatMap((e) => e.logprobs ?? []), finish: events.at(-1)?.finish };
}

describe("prompt log-probs", () => {
  test("a prompt token scores what generating it reported", async () => {
    const prompt = engine.tokenize("Once upon a time");
    const gen = await run({ prompt });
    expect(gen.tokens).toHaveLength(16);
    const scored = await run({ prompt: [...prompt, ...gen.tokens], maxTokens: 0, promptLogprobs: N_PROBS });
    expect(scored.tokens).toEqual([]);
    expect(scored.finish).toBe("length");
    const rows = scored.job.promptLogprobs!;
    expect(rows).toHaveLength(prompt.length + gen.tokens.length - 1);
    let diff = 0;
    gen.tokens.forEach((token, i) => {
      const g = gen.logprobs[i]!, s: TokenLogprob = rows[prompt.length - 1 + i]!;
      expect(s.token).toBe(token);
      expect(s.top.map((a) => a.token)).toEqual(g.top.map((a) => a.token));
      diff = Math.max(diff, Math.abs(s.logprob - g.logprob), ...s.top.map((a, k) => Math.abs(a.logprob - g.top[k]!.logprob)));
    });
    console.log(`largest |generated - scored| log-prob: ${diff.toExponential(2)}`);
    expect(diff).toBeLessThan(1e-3); // one batch vs tree decodes: f32 sums in another order
    for (const r of rows) expect(r.logprob).toBeLessThanOrEqual(r.top[0]!.logprob + 1e-6);
  });

  test("scoring then generating: the same tokens as generating alone", async () => {
    const prompt = engine.tokenize("The quick brown fox");
    const alone = await run({ prompt });
    const both = await run({ prompt, promptLogprobs: 0 });
    expect(both.tokens).toEqual(alone.tokens);
    expect(both.job.promptLogprobs).toHaveLength(prompt.length - 1);
    expect(both.job.promptLogprobs!.every((r) => r.top.length === 0 && r.logprob <= 0)).toBe(true);
  });

  test("a prompt longer than the context is refused", async () => {
    const prompt = Array.from({ length: engine.info.nCtx + 1 }, (_, i) => 1 + (i % 50));
    const e = await run({ prompt, maxTokens: 0, promptLogprobs: 1 }).then(() => null, (err: unknown) => err);
    expect(e).toBeInstanceOf(EngineError);
    expect((e as EngineError).code).toBe("context_length_exceeded");
  });
});
