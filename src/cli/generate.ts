// generate.ts - `redrafter generate`: run prompts through the engine (speculative, or plain with
// --no-draft) and report text plus the measures of DESIGN section 4, as text or JSON lines.
import { COMMANDS, settingsOf } from "../config.ts";
import { Engine, type Generation } from "../engine/engine.ts";
import { StepTotals } from "../engine/stats.ts";
import { defaultSampler, type SamplerParams } from "../engine/types.ts";
import { setNativeLogQuiet } from "../ffi/symbols.ts";
import { localEngine, UsageError } from "./args.ts";
import { promptTokens, readPrompts } from "./prompts.ts";

const settings = settingsOf(COMMANDS.generate);

const HELP = `usage: redrafter generate --model M [--drafter D] (--prompt TEXT | --prompts FILE.jsonl) [options]

${settings.help()}`;

/** The record printed per prompt with --json (field names as in bench output and /metrics). */
export interface GenerateRecord {
  id: string;
  tokens: number[];
  text: string;
  n_prompt: number;
  n_generated: number;
  target_calls: number; // target decodes, the prefill counting as one
  tau: number; // n_generated / target_calls
  tokens_per_s: number; // generation phase only: first step to last, prefill excluded
  ttft_ms: number | null;
  dedup: number | null; // 1 - mean(n_tree / (B*L + 1)) over speculative steps; null without
  head_share: number | null; // tree nodes whose LM head ran / tree nodes, speculative steps; null without
  n_drafted: number;
  n_accepted: number;
  n_copy_accepted: number; // of n_accepted: tokens only the context-copy beam proposed
  speculative: boolean;
  time: { draft_ms: number; verify_ms: number; other_ms: number; prefill_ms: number };
  finish_reason: "stop" | "length" | "cancelled" | null;
}

/** One prompt's run: its record, the sums of its steps and its generation time (for bench). */
export interface PromptRun {
  record: GenerateRecord;
  steps: StepTotals;
  genMs: number; // the engine's step time, prefill excluded
}

export async function runOne(
  engine: Engine,
  p: { id: string },
  tokens: number[],
  maxTokens: number,
  sampler: SamplerParams,
  draft: boolean,
  signal: AbortSignal,
  onText: ((s: string) => void) | null,
): Promise<PromptRun> {
  const gen: Generation = engine.generate({ prompt: tokens, maxTokens, sampler, draft, signal });
  const decoder = new TextDecoder();
  const out: number[] = [];
  let text = "";
  let finish: GenerateRecord["finish_reason"] = null;
  const st = new StepTotals(); // the first step's target call stands for the prefill
  for await (const ev of gen) {
    for (const t of ev.tokens) {
      out.push(t);
      const piece = decoder.decode(engine.tokenBytes(t), { stream: true });
      text += piece;
      onText?.(piece);
    }
    st.add(ev.stats, ev.tokens.length);
    finish = ev.finish ?? finish;
  }
  const tail = decoder.decode();
  text += tail;
  onText?.(tail);
  const record: GenerateRecord = {
    id: p.id,
    tokens: out,
    text,
    n_prompt: tokens.length,
    n_generated: out.length,
    target_calls: st.targetCalls,
    tau: st.tau ?? 0,
    tokens_per_s: gen.genMs > 0 ? (out.length * 1000) / gen.genMs : 0,
    ttft_ms: gen.ttftMs,
    dedup: st.dedup,
    head_share: st.headShare,
    n_drafted: st.drafted,
    n_accepted: st.accepted,
    n_copy_accepted: st.copyAccepted,
    speculative: st.speculativeSteps > 0,
    time: { draft_ms: st.draftMs, verify_ms: st.verifyMs, other_ms: st.otherMs, prefill_ms: gen.prefillMs },
    finish_reason: finish,
  };
  return { record, steps: st, genMs: gen.genMs };
}

export async function runGenerate(argv: string[]): Promise<void> {
  const { values: v, help } = settings.load(argv);
  if (help) return void console.log(HELP);
  if (!v.model) throw new UsageError(`--model is required\n\n${HELP}`);
  if ((v.prompt === null) === (v.prompts.length === 0)) throw new UsageError("give exactly one of --prompt and --prompts");
  const prompts = v.prompt === null ? v.prompts.flatMap((f) => readPrompts(f)).slice(0, v.limit ?? Infinity) : [{ id: "prompt", prompt: v.prompt }];
  const sampler: SamplerParams = { ...defaultSampler, temperature: v.temperature, top_p: v.topP, top_k: v.topK, seed: v.seed };
  setNativeLogQuiet(!v.verbose);
  const engine = await Engine.load(localEngine(v));
  const abort = new AbortController();
  const onSigint = () => abort.abort();
  process.on("SIGINT", onSigint);
  try {
    const info = engine.info;
    const draft = v.draft && (info.drafter !== null || info.lookup > 0);
    for (const p of prompts) {
      if (abort.signal.aborted) break;
      const tokens = promptTokens(engine, p.prompt, !!v.chat);
      const write = v.json ? null : (s: string) => void process.stdout.write(s);
      const { record: r } = await runOne(engine, p, tokens, v.maxTokens, sampler, draft, abort.signal, write);
      if (v.json) {
        process.stdout.write(JSON.stringify(r) + "\n");
      } else {
        const dedup = r.dedup === null ? "-" : `${(r.dedup * 100).toFixed(1)}%`;
        process.stderr.write(
          `\n[${r.id}] n_prompt=${r.n_prompt} n_generated=${r.n_generated} target_calls=${r.target_calls} ` +
            `tau=${r.tau.toFixed(2)} tokens/s=${r.tokens_per_s.toFixed(1)} ttft=${r.ttft_ms?.toFixed(1) ?? "-"}ms ` +
            `prefill=${r.time.prefill_ms.toFixed(1)}ms draft=${r.time.draft_ms.toFixed(1)}ms ` +
            `verify=${r.time.verify_ms.toFixed(1)}ms other=${r.time.other_ms.toFixed(1)}ms dedup=${dedup} ` +
            `finish=${r.finish_reason}${info.flashAttn ? " (flash attention on)" : ""}\n`,
        );
      }
    }
  } finally {
    process.off("SIGINT", onSigint);
    await engine.close();
  }
}
