// gemma-exact.test.ts - speculation equals plain decoding on a real model: Gemma 3 270M Q4_K_M
// (fetched into the model cache on first use), with the shipped drafter when present, else a
// random one. Q4_K_M weights and batched vs single-token kernels add float noise, so the test
// reports the match rate and requires every divergence to be a near-tie: at the first differing
// position, plain decoding's top two log-probs are closer than twice the noise llama.cpp itself
// shows on this model between decoding the same tokens in one batch and one at a time (measured
// below: ~0.1 nats with the repacked Q4_K kernels, against 0 for the tests' f32 tiny model).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Engine } from "../../src/engine/engine.ts";
import { defaultSampler, type TokenLogprob } from "../../src/engine/types.ts";
import { Drafter } from "../../src/ffi/drafter.ts";
import { Model } from "../../src/ffi/model.ts";
import { fetchDefaultModel } from "../../src/models/fetch.ts";
import { shippedDrafterFor } from "../../src/models/resolve.ts";
import { readPrompts } from "../../src/cli/generate.ts";

const PROMPTS = 6;
const TOKENS = 64;

let engine: Engine;
let tmp: string;
let drafterKind = "";

beforeAll(async () => {
  const model = await fetchDefaultModel(undefined, () => {});
  tmp = mkdtempSync(join(tmpdir(), "rd-gemma-"));
  let drafter = shippedDrafterFor(model);
  drafterKind = drafter ? "shipped" : "random";
  if (!drafter) {
    drafter = join(tmp, "random.gguf");
    using m = Model.load(model);
    Drafter.writeRandom(m, drafter, { nDraftVocab: 8192, weights: "q8_0" });
  }
  engine = await Engine.load({
    model, drafter, nCtx: 1024, beamWidth: 2, beamLength: 4, nGpuLayers: 0, device: null,
    threads: 1, flashAttn: 0, kvF32: true, adaptive: false,
  });
}, 600_000);

afterAll(async () => {
  await engine?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

async function run(prompt: number[], draft: boolean) {
  const tokens: number[] = [];
  const logprobs: TokenLogprob[] = [];
  let calls = 0;
  const sampler = { ...defaultSampler, ignore_eos: true, n_probs: 2 };
  for await (const ev of engine.generate({ prompt, maxTokens: TOKENS, sampler, draft })) {
    tokens.push(...ev.tokens);
    if (ev.logprobs) logprobs.push(...ev.logprobs);
    calls += ev.stats.target_calls;
  }
  return { tokens, logprobs, calls };
}

/** Kernel noise of the target alone around position i: the largest difference between the
 *  log-prob of plain decoding's token k (its context decoded token by token) and the same
 *  token's log-prob when its context is decoded in one batch, for k in i-15..i. */
async function noiseAround(prompt: number[], ref: { tokens: number[]; logprobs: TokenLogprob[] }, i: number): Promise<number> {
  const sampler = { ...defaultSampler, ignore_eos: true, n_probs: 1 };
  let worst = 0;
  for (let k = Math.max(1, i - 15); k <= i; k++) {
    for await (const ev of engine.generate({ prompt: [...prompt, ...ref.tokens.slice(0, k)], maxTokens: 1, sampler, draft: false })) {
      if (ev.tokens[0] !== ref.tokens[k]) return Infinity; // batched decoding alone flips it: noise by definition
      worst = Math.max(worst, Math.abs(ev.logprobs![0].logprob - ref.logprobs[k].logprob));
    }
  }
  return worst;
}

describe("Gemma 3 270M: speculative == plain decoding", () => {
  it("matches token for token, or diverges only at near-ties", async () => {
    const prompts = readPrompts(join(import.meta.dirname, "../fixtures/prompts.jsonl"), PROMPTS);
    let identical = 0, spec = 0, calls = 0;
    for (const p of prompts) {
      const ids = engine.tokenize(p.prompt, { addSpecial: true });
      const a = await run(ids, false);
      const b = await run(ids, true);
      spec += b.tokens.length;
      calls += b.calls;
      const i = a.tokens.findIndex((t, k) => t !== b.tokens[k]);
      if (i < 0 && a.tokens.length === b.tokens.length) {
        identical++;
        continue;
      }
      const top = a.logprobs[i].top;
      const gap = top[0].logprob - top[1].logprob;
      const noise = await noiseAround(ids, a, i);
      const why = noise === Infinity
        ? "llama.cpp alone, decoding the same context in one batch instead of token by token, picks a different token than token-by-token decoding within the 16 positions up to this one"
        : `llama.cpp's own batched-vs-sequential noise around it is ${noise.toFixed(4)} nats`;
      console.log(`${p.id}: diverges at token ${i} of ${TOKENS}; plain decoding's top-2 gap there is ${gap.toFixed(4)} nats; ${why}`);
      expect(gap).toBeLessThan(2 * noise);
    }
    console.log(`Gemma 3 270M exactness (${drafterKind} drafter, B=2 L=4, greedy): ${identical}/${prompts.length} prompts identical over ${TOKENS} tokens; tau ${(spec / calls).toFixed(2)}`);
    expect(identical).toBeGreaterThan(0);
  }, 900_000);
});
