// generate.ts - `redrafter generate`: run prompts through the engine (speculative, or plain with
// --no-draft) and report text plus the measures of DESIGN section 4, as text or JSON lines.
import { COMMANDS, settingsOf } from "../config.ts";
import { Engine, type Generation } from "../engine/engine.ts";
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

export async function runOne(
  engine: Engine,
  p: { id: string },
  tokens: number[],
  maxTokens: number,
  sampler: SamplerParams,
  draft: boolean,
  signal: AbortSignal,
  onText: ((s: string) => void) | null,
): Promise<GenerateRecord> {
  const gen: Generation = engine.generate({ prompt: tokens, maxTokens, sampler, draft, signal });
  const decoder = new TextDecoder();
  const out: number[] = [];
  let text = "";
  let finish: GenerateRecord["finish_reason"] = null;
  let calls = 0; // the first step's call stands for the prefill (rd_step_result.target_calls)
  let drafted = 0;
  let accepted = 0;
  let copyAccepted = 0;
  let ratio = 0;
  let specSteps = 0;
  let heads = 0;
  let nodes = 0;
  const time = { draft_ms: 0, verify_ms: 0, other_ms: 0, prefill_ms: 0 };
  for await (const ev of gen) {
    for (const t of ev.tokens) {
      out.push(t);
      const piece = decoder.decode(engine.tokenBytes(t), { stream: true });
      text += piece;
      onText?.(piece);
    }
    const s = ev.stats;
    calls += s.target_calls;
    drafted += s.n_drafted;
    accepted += s.n_accepted;
    copyAccepted += s.n_copy_accepted;
    if (s.n_drafted > 0) {
      ratio += s.n_tree / (s.n_drafted + 1);
      specSteps++;
      heads += s.n_head;
      nodes += s.n_tree;
    }
    time.draft_ms += s.t_draft_ms;
    time.verify_ms += s.t_verify_ms;
    time.other_ms += s.t_other_ms;
    finish = ev.finish ?? finish;
  }
  const tail = decoder.decode();
  text += tail;
  onText?.(tail);
  time.prefill_ms = gen.prefillMs;
  return {
    id: p.id,
    tokens: out,
    text,
    n_prompt: tokens.length,
    n_generated: out.length,
    target_calls: calls,
    tau: calls > 0 ? out.length / calls : 0,
    tokens_per_s: gen.genMs > 0 ? (out.length * 1000) / gen.genMs : 0,
    ttft_ms: gen.ttftMs,
    dedup: specSteps > 0 ? 1 - ratio / specSteps : null,
    head_share: nodes > 0 ? heads / nodes : null,
    n_drafted: drafted,
    n_accepted: accepted,
    n_copy_accepted: copyAccepted,
    speculative: specSteps > 0,
    time,
    finish_reason: finish,
  };
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
      const r = await runOne(engine, p, tokens, v.maxTokens, sampler, draft, abort.signal, write);
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
