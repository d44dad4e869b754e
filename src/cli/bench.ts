// bench.ts - `redrafter bench`: plain autoregressive decoding and ReDrafter on the same prompts in
// the same process, alternating per prompt (and which goes first), so both see the same machine
// state. Prints a line per prompt on stderr and the DESIGN section 4 measures as one JSON summary:
// tau, speedup (spec tokens/s over plain tokens/s), tokens_per_s_ar / _spec, dedup, draft_share.
import { COMMANDS, settingsOf } from "../config.ts";
import { Engine } from "../engine/engine.ts";
import { StepTotals } from "../engine/stats.ts";
import { defaultSampler, type SamplerParams } from "../engine/types.ts";
import { Model } from "../ffi/model.ts";
import { setNativeLogQuiet } from "../ffi/symbols.ts";
import { modelParams, sessionShape } from "../engine/options.ts";
import { costAt, measureRoofline, type Roofline } from "../engine/roofline.ts";
import { localEngine, UsageError } from "./args.ts";
import { runOne, type GenerateRecord } from "./generate.ts";
import { promptTokens, readPrompts, spread } from "./prompts.ts";

const settings = settingsOf(COMMANDS.bench);

const HELP = `usage: redrafter bench --model M [--drafter D] --prompts FILE.jsonl [options]

${settings.help()}`;

/** One mode's runs: the sums of their steps and their generation time. */
interface Totals {
  steps: StepTotals;
  genMs: number;
}

const zero = (): Totals => ({ steps: new StepTotals(), genMs: 0 });

const rate = (t: Totals) => (t.genMs > 0 ? (t.steps.tokens * 1000) / t.genMs : 0);

/** Where a target call's time goes, in ms: drafting, verifying (LM head included), the step's
 *  own bookkeeping, and what the generation clock saw outside the steps (sampling, detokenising). */
function perCall(t: Totals) {
  const s = t.steps;
  if (s.targetCalls === 0) return null;
  const per = (ms: number) => Math.round((ms / s.targetCalls) * 1000) / 1000;
  return {
    draft: per(s.draftMs),
    verify: per(s.verifyMs),
    of_which_head: per(s.headMs),
    other: per(s.otherMs),
    outside: per(t.genMs - s.draftMs - s.verifyMs - s.otherMs),
  };
}

/** S* and where this run stands: the speedup its acceptance would give with free drafting, and
 *  the shares of S* that both and the measured speedup reach (roofline.ts). */
function rooflineSummary(r: Roofline, tau: number | null, nodes: number | null, speedup: number | null) {
  const free = tau !== null && nodes !== null ? (tau * r.curveMs[0]!) / costAt(r.curveMs, nodes) : null;
  return {
    verify_ms: r.curveMs.map((x) => Math.round(x * 1000) / 1000), // [n - 1]: n nodes, every head paid
    best_speedup: r.bestSpeedup,
    best_nodes: r.bestNodes,
    mean_tree_nodes: nodes,
    speedup_if_drafting_were_free: free,
    share_of_best_free: free !== null ? free / r.bestSpeedup : null,
    share_of_best_measured: speedup !== null ? speedup / r.bestSpeedup : null,
  };
}

export async function runBench(argv: string[]): Promise<void> {
  const { values: v, help } = settings.load(argv);
  if (help) return void console.log(HELP);
  if (!v.model) throw new UsageError(`--model is required\n\n${HELP}`);
  if (v.prompts.length === 0) throw new UsageError(`--prompts is required\n\n${HELP}`);
  const prompts = spread(v.prompts.flatMap((f) => readPrompts(f)), v.limit ?? Infinity);
  const { maxTokens, temperature } = v;
  const sampler: SamplerParams = { ...defaultSampler, temperature, seed: v.benchSeed };

  setNativeLogQuiet(!v.verbose);
  const opts = localEngine(v);
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
      const tokens = promptTokens(engine, p.prompt, !v.raw);
      // alternate which mode runs first, so neither always inherits a warm (or hot) machine
      const order = withSpec ? (i % 2 === 0 ? [false, true] : [true, false]) : [false];
      const got: Partial<Record<"ar" | "spec", GenerateRecord>> = {};
      for (const draft of order) {
        const r = await runOne(engine, p, tokens, maxTokens, sampler, draft, abort.signal, null);
        const t = draft ? spec : ar;
        t.steps.merge(r.steps);
        t.genMs += r.genMs;
        got[draft ? "spec" : "ar"] = r.record;
      }
      if (got.ar && got.spec && temperature === 0) {
        compared++;
        if (got.ar.tokens.length === got.spec.tokens.length && got.ar.tokens.every((t, j) => t === got.spec!.tokens[j])) same++;
      }
      process.stderr.write(
        `[${i + 1}/${prompts.length}] ${p.id}: ar ${got.ar!.tokens_per_s.toFixed(1)} tok/s` +
          (got.spec ? `, spec ${got.spec.tokens_per_s.toFixed(1)} tok/s tau ${got.spec.tau.toFixed(2)}` : "") +
          ` | running speedup ${(rate(spec) / Math.max(rate(ar), 1e-9)).toFixed(3)}x tau ${(spec.steps.tau ?? 1).toFixed(3)}\n`,
      );
    }
  } finally {
    process.off("SIGINT", onSigint);
    await engine.close();
  }
  // after the prompts, with the engine's sessions closed: its own session on its own mapping
  let roof: Roofline | null = null;
  if (v.roofline) {
    const m = Model.load(opts.model, modelParams(opts));
    try {
      roof = measureRoofline(m, { ...sessionShape(opts), nThreads: engine.threads });
    } finally {
      m.close();
    }
  }
  const [a, s] = [ar.steps, spec.steps];
  const specMs = s.draftMs + s.verifyMs + s.otherMs;
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
    tokens_ar: a.tokens,
    tokens_spec: s.tokens,
    tokens_per_s_ar: rate(ar),
    tokens_per_s_spec: s.tokens > 0 ? rate(spec) : null,
    speedup: s.tokens > 0 && rate(ar) > 0 ? rate(spec) / rate(ar) : null,
    tau: s.tau,
    dedup: s.dedup,
    draft_share: specMs > 0 ? s.draftMs / specMs : null,
    head_share: s.headShare,
    copy_share: s.tokens > 0 ? s.copyAccepted / s.tokens : null,
    verify_ms_per_call_ar: a.targetCalls > 0 ? a.verifyMs / a.targetCalls : null,
    verify_ms_per_call_spec: s.targetCalls > 0 ? s.verifyMs / s.targetCalls : null,
    step_ms_ar: perCall(ar),
    step_ms_spec: perCall(spec),
    greedy_outputs_identical: compared > 0 ? same / compared : null,
    roofline: roof && rooflineSummary(roof, s.tau, s.targetCalls > 0 ? s.treeNodes / s.targetCalls : null,
      s.tokens > 0 && rate(ar) > 0 ? rate(spec) / rate(ar) : null),
  };
  const json = JSON.stringify(summary, null, v.json ? 0 : 2);
  process.stdout.write(json + "\n");
}
