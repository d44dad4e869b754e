// ar-vs-node-llama-cpp.ts - plain decoding speed of our engine (--no-draft path) against
// node-llama-cpp's own generation loop on the same model, prompts and thread count, in ONE
// process, alternating per prompt (and which goes first) so both see the same machine state.
// Greedy; tokens/s counts the generation phase (first token -> last), prefill excluded.
//
//   bun bench/ar-vs-node-llama-cpp.ts --model M [--prompts FILE.jsonl] [--limit K]
//       [--max-tokens N] [--threads N]
// Prints one line per prompt and a final JSON summary with `ratio` = ours / node-llama-cpp.
import { parseArgs } from "node:util";
import { getLlama, type Token } from "node-llama-cpp";
import { Engine } from "../src/engine/engine.ts";
import { defaultSampler } from "../src/engine/types.ts";
import { setNativeLogQuiet } from "../src/ffi/symbols.ts";
import { readPrompts } from "../src/cli/prompts.ts";

const { values } = parseArgs({
  options: {
    model: { type: "string" },
    prompts: { type: "string", default: "../shared/data/dev_eval.jsonl" },
    limit: { type: "string", default: "8" },
    "max-tokens": { type: "string", default: "128" },
    threads: { type: "string", default: "1" },
  },
});
if (!values.model) throw new Error("--model is required");
const maxTokens = Number(values["max-tokens"]);
const threads = Number(values.threads);
const prompts = readPrompts(values.prompts!).slice(0, Number(values.limit)).map((p) => p.prompt);

setNativeLogQuiet(true);
const ours = await Engine.load({
  model: values.model, drafter: null, nCtx: 2048, beamWidth: 1, beamLength: 1, nGpuLayers: 0,
  device: null, threads, flashAttn: -1, kvF32: false,
});
const llama = await getLlama({ build: "never", gpu: false, logLevel: "error" as never });
const model = await llama.loadModel({ modelPath: values.model, gpuLayers: 0 });
const context = await model.createContext({ contextSize: 2048, threads, flashAttention: "auto" });
const sequence = context.getSequence();

async function runOurs(tokens: number[]): Promise<{ n: number; s: number }> {
  let n = 0, first = 0;
  const gen = ours.generate({ prompt: tokens, maxTokens, sampler: { ...defaultSampler, ignore_eos: true }, draft: false });
  for await (const ev of gen) {
    if (n === 0 && ev.tokens.length > 0) first = performance.now();
    n += ev.tokens.length;
  }
  return { n, s: (performance.now() - first) / 1e3 };
}

async function runNlc(tokens: number[]): Promise<{ n: number; s: number }> {
  await sequence.clearHistory();
  let n = 0, first = 0;
  for await (const _t of sequence.evaluate(tokens as Token[], { temperature: 0 })) {
    if (n === 0) first = performance.now();
    if (++n >= maxTokens) break;
  }
  return { n, s: (performance.now() - first) / 1e3 };
}

let oursTok = 0, oursS = 0, nlcTok = 0, nlcS = 0;
for (const [i, text] of prompts.entries()) {
  const tokens = ours.tokenize(text, { addSpecial: true });
  const order = i % 2 === 0 ? [runOurs, runNlc] : [runNlc, runOurs];
  for (const run of order) {
    const r = await run(tokens);
    // the first token comes from the prefill: rate over the remaining n - 1
    if (run === runOurs) { oursTok += r.n - 1; oursS += r.s; } else { nlcTok += r.n - 1; nlcS += r.s; }
  }
  console.error(`prompt ${i}: ours ${(oursTok / oursS).toFixed(2)} tok/s, node-llama-cpp ${(nlcTok / nlcS).toFixed(2)} tok/s (running)`);
}
const summary = {
  prompts: prompts.length, max_tokens: maxTokens, threads,
  tokens_per_s_ours: oursTok / oursS, tokens_per_s_node_llama_cpp: nlcTok / nlcS,
  ratio: (oursTok / oursS) / (nlcTok / nlcS),
};
console.log(JSON.stringify(summary));
await context.dispose();
await model.dispose();
await ours.close();
