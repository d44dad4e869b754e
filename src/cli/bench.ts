// bench.ts - `redrafter bench`: plain autoregressive decoding and ReDrafter on the same prompts in
// the same process, alternating per prompt (and which goes first), so both see the same machine
// state. Prints a line per prompt on stderr and the DESIGN section 4 measures as one JSON summary:
// tau, speedup (spec tokens/s over plain tokens/s), tokens_per_s_ar / _spec, dedup, draft_share.
import { renderChat, stripLeadingBos } from "../engine/chat-template.ts";
import { Engine } from "../engine/engine.ts";
import { defaultSampler, type SamplerParams } from "../engine/types.ts";
import { setNativeLogQuiet } from "../ffi/symbols.ts";
import { engineFlags, engineOptionsFrom, num, parse, UsageError } from "./args.ts";
import { readPrompts, runOne, type GenerateRecord } from "./generate.ts";

const HELP = `usage: redrafter bench --model M [--drafter D] --prompts FILE.jsonl [options]

  --model PATH         target GGUF
  --drafter PATH       ReDrafter GGUF (default: the one shipped in drafters/ for this target; with
                       neither and --lookup 0, only plain decoding is measured)
  --no-drafter         no drafter (not even the shipped one): only the context copy drafts (--lookup)
  --prompts FILE       JSONL with a "prompt" field per line; rendered with the chat template
  --limit K            K prompts evenly spread over the file (default all)
  --max-tokens N       tokens per prompt (default 128)
  --beam-width B       (default 1)
  --beam-length L      (default 2)
  --temperature T      0 = greedy (default 0)
  --seed S             sampler seed for T > 0 (default 1)
  --ctx-size N         (default 0 = 4096 capped at the model's)
  --threads N|auto     CPU threads (default auto: the fastest count measured at start-up, cached
                       in $REDRAFTER_THREADS_CACHE, else ~/.cache/redrafter/threads.json)
  --recalibrate-threads
                       with auto: measure again instead of reading the cache
  --gpu-layers N       (default 0)
  --device NAME        ggml device
  --flash-attn MODE    auto | on | off (default auto)
  --fixed-length       verify B x L drafts every step (default: the draft length adapts)
  --full-head          run the LM head for every tree node (default: only the nodes the walk reaches)
  --lookup N           context copy: up to N tokens that followed the last tokens where they occurred
                       before join the tree as one more beam (default 16; 0 = off)
  --kv-f32             f32 KV cache instead of f16 (batch-variant models only)
  --no-batch-invariant let logits depend on the batch (trees of several beams; flash attention
                       and KV type as given); default: speculative == plain bit for bit
  --raw                feed prompts as plain text, without the chat template
  --json               print only the JSON summary on stdout (progress still on stderr)
  --verbose            show llama.cpp logging`;

const options = {
  ...engineFlags,
  prompts: { type: "string" },
  limit: { type: "string" },
  "max-tokens": { type: "string" },
  temperature: { type: "string" },
  seed: { type: "string" },
  raw: { type: "boolean" },
  json: { type: "boolean" },
} as const;

interface Totals {
  tokens: number;
  genMs: number;
  calls: number;
  draftMs: number;
  verifyMs: number;
  otherMs: number;
  dedupSum: number;
  dedupN: number;
  headSum: number;
  headN: number;
  copyAccepted: number; // tokens only the context copy proposed
}

const zero = (): Totals => ({ tokens: 0, genMs: 0, calls: 0, draftMs: 0, verifyMs: 0, otherMs: 0, dedupSum: 0, dedupN: 0, headSum: 0, headN: 0, copyAccepted: 0 });

function add(t: Totals, r: GenerateRecord): void {
  t.tokens += r.n_generated;
  t.genMs += r.tokens_per_s > 0 ? (r.n_generated * 1000) / r.tokens_per_s : 0;
  t.calls += r.target_calls;
  t.copyAccepted += r.n_copy_accepted;
  t.draftMs += r.time.draft_ms;
  t.verifyMs += r.time.verify_ms;
  t.otherMs += r.time.other_ms;
  if (r.dedup !== null) {
    t.dedupSum += r.dedup;
    t.dedupN++;
  }
  if (r.head_share !== null) {
    t.headSum += r.head_share;
    t.headN++;
  }
}

const rate = (t: Totals) => (t.genMs > 0 ? (t.tokens * 1000) / t.genMs : 0);

export async function runBench(argv: string[]): Promise<void> {
  const parsed = parse(argv, options, HELP);
  if (!parsed) return;
  const v = parsed.values;
  if (parsed.positionals.length) throw new UsageError(`unexpected argument '${parsed.positionals[0]}'\n\n${HELP}`);
  if (!v.model) throw new UsageError(`--model is required\n\n${HELP}`);
  if (!v.prompts) throw new UsageError(`--prompts is required\n\n${HELP}`);
  // an even stride, not the first K: prompt files are grouped by category (chat, code, math)
  const all = readPrompts(v.prompts, Infinity);
  const limit = Math.min(all.length, num("limit", v.limit, Infinity, { int: true, min: 1 }));
  const prompts = Array.from({ length: limit }, (_, i) => all[Math.floor((i * all.length) / limit)]!);
  if (prompts.length === 0) throw new UsageError(`${v.prompts} holds no prompt`);
  const maxTokens = num("max-tokens", v["max-tokens"], 128, { int: true, min: 1 });
  const temperature = num("temperature", v.temperature, 0, { min: 0 });
  const sampler: SamplerParams = { ...defaultSampler, temperature, seed: num("seed", v.seed, 1, { int: true, min: 0, max: 0xfffffffe }) };

  setNativeLogQuiet(!v.verbose);
  const opts = engineOptionsFrom(v);
  const [B, L] = [opts.beamWidth, opts.beamLength];
  const engine = await Engine.load(opts);
  const abort = new AbortController();
  const onSigint = () => abort.abort();
  process.on("SIGINT", onSigint);
  const ar = zero();
  const spec = zero();
  let same = 0;
  let compared = 0;
  try {
    const info = engine.info;
    const withSpec = info.drafter !== null || info.lookup > 0;
    for (const [i, p] of prompts.entries()) {
      if (abort.signal.aborted) break;
      const text = v.raw
        ? p.prompt
        : stripLeadingBos(renderChat(info.chatTemplate, [{ role: "user", content: p.prompt }], {
            bos_token: info.bosToken, eos_token: info.eosToken, add_generation_prompt: true,
          }), info.bosToken, info.addBos);
      const tokens = engine.tokenize(text, { addSpecial: true, parseSpecial: !v.raw });
      // alternate which mode runs first, so neither always inherits a warm (or hot) machine
      const order = withSpec ? (i % 2 === 0 ? [false, true] : [true, false]) : [false];
      const got: Partial<Record<"ar" | "spec", GenerateRecord>> = {};
      for (const draft of order) {
        const r = await runOne(engine, p, tokens, maxTokens, sampler, draft, abort.signal, null);
        add(draft ? spec : ar, r);
        got[draft ? "spec" : "ar"] = r;
      }
      if (got.ar && got.spec && temperature === 0) {
        compared++;
        if (got.ar.tokens.length === got.spec.tokens.length && got.ar.tokens.every((t, j) => t === got.spec!.tokens[j])) same++;
      }
      process.stderr.write(
        `[${i + 1}/${prompts.length}] ${p.id}: ar ${got.ar!.tokens_per_s.toFixed(1)} tok/s` +
          (got.spec ? `, spec ${got.spec.tokens_per_s.toFixed(1)} tok/s tau ${got.spec.tau.toFixed(2)}` : "") +
          ` | running speedup ${(rate(spec) / Math.max(rate(ar), 1e-9)).toFixed(3)}x tau ${(spec.calls > 0 ? spec.tokens / spec.calls : 1).toFixed(3)}\n`,
      );
    }
  } finally {
    process.off("SIGINT", onSigint);
    await engine.close();
  }
  const specMs = spec.draftMs + spec.verifyMs + spec.otherMs;
  const summary = {
    model: engine.info.path,
    drafter: engine.info.drafter,
    lookup: engine.info.lookup,
    n_prompts: prompts.length,
    max_tokens: maxTokens,
    beam_width: B,
    beam_length: L,
    temperature,
    flash_attn: engine.info.flashAttn,
    threads: engine.threads,
    tokens_ar: ar.tokens,
    tokens_spec: spec.tokens,
    tokens_per_s_ar: rate(ar),
    tokens_per_s_spec: spec.tokens > 0 ? rate(spec) : null,
    speedup: spec.tokens > 0 && rate(ar) > 0 ? rate(spec) / rate(ar) : null,
    tau: spec.calls > 0 ? spec.tokens / spec.calls : null,
    dedup: spec.dedupN > 0 ? spec.dedupSum / spec.dedupN : null,
    draft_share: specMs > 0 ? spec.draftMs / specMs : null,
    head_share: spec.headN > 0 ? spec.headSum / spec.headN : null,
    copy_share: spec.tokens > 0 ? spec.copyAccepted / spec.tokens : null,
    verify_ms_per_call_ar: ar.calls > 0 ? ar.verifyMs / ar.calls : null,
    verify_ms_per_call_spec: spec.calls > 0 ? spec.verifyMs / spec.calls : null,
    greedy_outputs_identical: compared > 0 ? same / compared : null,
  };
  const json = JSON.stringify(summary, null, v.json ? 0 : 2);
  process.stdout.write(json + "\n");
}
