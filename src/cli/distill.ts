// distill.ts - `redrafter distill`: train a drafter for any GGUF target by knowledge
// distillation. Phases: teacher data (the target answers the prompts greedily; cached under
// --cache-dir, keyed by target + prompts + settings, so a rerun skips it) -> draft vocabulary ->
// training with an evaluation per epoch and checkpoints (--resume continues) -> the drafter GGUF
// -> tau on held-out prompts. The native work is time-sliced (250 ms per call), so this loop
// polls progress and draws the bars on stderr without a worker.
import { closeSync, existsSync, mkdirSync, openSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { modelChatTemplate, renderChat, stripLeadingBos } from "../engine/chat-template.ts";
import { Drafter, type WeightTypeName } from "../ffi/drafter.ts";
import { evalTau, packPrompts, Teacher, Trainer, type PromptTokens } from "../ffi/distill.ts";
import { Model } from "../ffi/model.ts";
import { repoRoot, setNativeLogQuiet } from "../ffi/symbols.ts";
import { choice, num, parse, UsageError } from "./args.ts";

const HELP = `usage: redrafter distill --target M --prompts FILE.jsonl [--prompts FILE2 ...] --out D.gguf [options]

  --target PATH          target GGUF (the teacher); --model is an alias
  --prompts FILE         JSONL with a "prompt" field per line; repeat for several files
  --out PATH             drafter GGUF to write (a checkpoint goes to PATH.ckpt)
  --limit K              use K prompts, evenly spread over the files (default all)
  --holdout H            prompts kept out of training for the tau measurement (default 16)
  --max-new-tokens N     teacher answer length (default 128)
  --parallel P           sequences the teacher decodes together (default 8)
  --top-k K              teacher probabilities kept per position, 1..32 (default 16)
  --beam-length L        draft steps trained (teacher forcing) and used for tau (default 4)
  --draft-vocab N        draft vocabulary: the N most frequent answer tokens (default 8192)
  --n-proj E             input projection width (default: d for d >= 512, else none)
  --n-layers N           ResBlocks (default 1)
  --weights TYPE         f32 | f16 | q8_0 for the saved drafter (default f16)
  --epochs E             (default 2)
  --batch N              samples per step (default 64)
  --lr X                 peak learning rate (default 1e-3)
  --seed S               initialisation and data order (default 42)
  --resume               continue training from PATH.ckpt (same settings, its teacher data as is)
  --teacher-max-s S      stop collecting after S seconds and train on what is there
  --tau-tokens N         tokens per held-out prompt for tau (default 64)
  --cache-dir DIR        teacher data cache (default .cache/distill in the repository)
  --threads N            CPU threads (default 0 = all cores)
  --verbose              show llama.cpp logging`;

const options = {
  target: { type: "string" },
  model: { type: "string" },
  out: { type: "string" },
  limit: { type: "string" },
  holdout: { type: "string" },
  "max-new-tokens": { type: "string" },
  parallel: { type: "string" },
  "top-k": { type: "string" },
  "beam-length": { type: "string" },
  "draft-vocab": { type: "string" },
  "n-proj": { type: "string" },
  "n-layers": { type: "string" },
  weights: { type: "string" },
  epochs: { type: "string" },
  batch: { type: "string" },
  lr: { type: "string" },
  seed: { type: "string" },
  resume: { type: "boolean" },
  "teacher-max-s": { type: "string" },
  "tau-tokens": { type: "string" },
  "cache-dir": { type: "string" },
  threads: { type: "string" },
  verbose: { type: "boolean" },
} as const;

/** The "prompt" strings of a JSONL file; malformed lines and empty files are errors. */
export function readPromptFile(path: string): string[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new UsageError(`cannot read prompt file ${path}: ${(e as NodeJS.ErrnoException).code ?? e}`);
  }
  const out: string[] = [];
  for (const [i, line] of text.split("\n").entries()) {
    if (!line.trim()) continue;
    let obj: unknown;
    try {
      obj = JSON.parse(line);
    } catch {
      throw new UsageError(`${path}:${i + 1}: not a JSON object`);
    }
    const prompt = (obj as { prompt?: unknown } | null)?.prompt;
    if (typeof prompt !== "string" || !prompt) throw new UsageError(`${path}:${i + 1}: no non-empty "prompt" string field`);
    out.push(prompt);
  }
  if (out.length === 0) throw new UsageError(`prompt file ${path} holds no prompt`);
  return out;
}

/** Progress bar line on stderr: phase, bar, percent, rate, ETA, extra. */
export function bar(phase: string, done: number, total: number, rate: string, eta: number, extra = ""): void {
  const width = 28;
  const f = total > 0 ? Math.min(1, done / total) : 0;
  const fill = Math.round(f * width);
  const etaText = eta < 0 ? "ETA ?" : `ETA ${formatSeconds(eta)}`;
  process.stderr.write(`\r${phase.padEnd(7)} [${"#".repeat(fill)}${".".repeat(width - fill)}] ${(100 * f).toFixed(1).padStart(5)}% ${rate} ${etaText} ${extra}\x1b[K`);
}

function formatSeconds(s: number): string {
  s = Math.round(s);
  return s >= 3600 ? `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m` : s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s` : `${s}s`;
}

/** A seeded Fisher-Yates shuffle: prompt files are grouped by source, and a teacher run cut
 *  short by --teacher-max-s must still see every kind of prompt (chat, code, math). */
function shuffled<T>(items: T[], seed: number): T[] {
  let x = (seed >>> 0) || 1;
  const next = () => ((x ^= x << 13), (x ^= x >>> 17), (x ^= x << 5), (x >>> 0) / 4294967296);
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

/** Prompts rendered as one user turn with the target's chat template, then tokenized. */
function templated(model: Model, prompts: string[]): number[][] {
  const text = (id: number) => (id >= 0 ? new TextDecoder().decode(model.tokenBytes(id, true)) : null);
  const bos = text(model.bos);
  const eos = text(model.eos);
  const tmpl = modelChatTemplate((k) => model.meta(k));
  return prompts.map((p) => {
    const s = stripLeadingBos(renderChat(tmpl, [{ role: "user", content: p }], { bos_token: bos, eos_token: eos, add_generation_prompt: true }), bos, model.addBos);
    return Array.from(model.tokenize(s, true, true));
  });
}

const pause = () => new Promise<void>((r) => setTimeout(r, 0)); // lets SIGINT through between slices

export async function runDistill(argv: string[]): Promise<void> {
  // --prompts may repeat: collect it before the single-valued parser sees the rest
  const promptFiles: string[] = [];
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--prompts") {
      if (argv[i + 1] === undefined) throw new UsageError(`--prompts needs a file\n\n${HELP}`);
      promptFiles.push(argv[++i]!);
    } else if (a.startsWith("--prompts=")) promptFiles.push(a.slice(10));
    else rest.push(a);
  }
  const parsed = parse(rest, options, HELP);
  if (!parsed) return;
  const v = parsed.values;
  if (parsed.positionals.length) throw new UsageError(`unexpected argument '${parsed.positionals[0]}'\n\n${HELP}`);
  const target = v.target ?? v.model;
  if (!target) throw new UsageError(`--target is required\n\n${HELP}`);
  if (promptFiles.length === 0) throw new UsageError(`--prompts is required\n\n${HELP}`);
  if (!v.out) throw new UsageError(`--out is required\n\n${HELP}`);
  const out = resolve(v.out);
  const limit = num("limit", v.limit, Infinity, { int: true, min: 1 });
  const holdout = num("holdout", v.holdout, 16, { int: true, min: 0 });
  const maxNew = num("max-new-tokens", v["max-new-tokens"], 128, { int: true, min: 1 });
  const parallel = num("parallel", v.parallel, 8, { int: true, min: 1, max: 256 });
  const topK = num("top-k", v["top-k"], 16, { int: true, min: 1, max: 32 });
  const L = num("beam-length", v["beam-length"], 4, { int: true, min: 1, max: 16 });
  const nDraftVocab = num("draft-vocab", v["draft-vocab"], 8192, { int: true, min: 1 });
  const nLayers = num("n-layers", v["n-layers"], 1, { int: true, min: 0, max: 16 });
  const weights: WeightTypeName = choice("weights", v.weights, ["f32", "f16", "q8_0"] as const, "f16");
  const epochs = num("epochs", v.epochs, 2, { int: true, min: 1 });
  const batch = num("batch", v.batch, 64, { int: true, min: 1 });
  const lr = num("lr", v.lr, 1e-3, { min: 1e-8 });
  const seed = num("seed", v.seed, 42, { int: true, min: 0 });
  const teacherMaxS = num("teacher-max-s", v["teacher-max-s"], 0, { min: 0 });
  const tauTokens = num("tau-tokens", v["tau-tokens"], 64, { int: true, min: 1 });
  const threads = num("threads", v.threads, 0, { int: true, min: 0 });
  const cacheDir = resolve(v["cache-dir"] ?? join(repoRoot, ".cache", "distill"));

  // all prompts, then an even stride of --limit; the last --holdout of them are held out
  const all = promptFiles.flatMap(readPromptFile);
  const nUse = Math.min(limit, all.length);
  const picked = shuffled(Array.from({ length: nUse }, (_, i) => all[Math.floor((i * all.length) / nUse)]!), seed);
  const nHold = Math.min(holdout, Math.floor(nUse / 2));

  // fail now rather than after the training: the output must be writable
  try {
    mkdirSync(dirname(out), { recursive: true });
    closeSync(openSync(out, "a"));
  } catch (e) {
    throw new UsageError(`cannot write --out ${out}: ${(e as NodeJS.ErrnoException).code ?? e}`);
  }

  setNativeLogQuiet(!v.verbose);
  // as redrafter-distill: the teacher decodes many sequences per batch, where repacked weights are
  // faster, and the final tau verifies every beam (a batch-invariant session verifies one)
  const model = Model.load(target, { batchInvariant: false });
  let interrupted = false;
  const onSigint = () => { interrupted = true; };
  process.on("SIGINT", onSigint);
  try {
    if (nDraftVocab > model.nVocab) throw new UsageError(`--draft-vocab ${nDraftVocab} is larger than the target's vocabulary (${model.nVocab})`);
    const toks = templated(model, picked);
    const train = packPrompts(toks.slice(0, nUse - nHold));
    const held: PromptTokens | null = nHold > 0 ? packPrompts(toks.slice(nUse - nHold)) : null;
    process.stderr.write(`prompts: ${nUse - nHold} for teacher data, ${nHold} held out (of ${all.length} in ${promptFiles.length} file(s))\n`);

    // phase 1: teacher data, cached by target + prompts + settings
    const teacherParams = { nParallel: parallel, maxNewTokens: maxNew, topK, threads };
    const key = Teacher.cacheKey(model, train, teacherParams);
    mkdirSync(cacheDir, { recursive: true });
    const teacherPath = join(cacheDir, `teacher-${key}.rdt`);
    // resuming a training run keeps its teacher data exactly as it was (even if incomplete)
    const ckpt = `${out}.ckpt`;
    if (v.resume && existsSync(ckpt) && existsSync(teacherPath)) {
      process.stderr.write(`teacher: resuming training from ${ckpt}: using ${teacherPath} as it is\n`);
    } else {
      const t0 = performance.now();
      const teacher = Teacher.open(model, train, teacherPath, teacherParams);
      let tp;
      try {
        do {
          tp = teacher.run(250);
          bar("teacher", tp.n_done + tp.n_skipped, tp.n_prompts, `${tp.tokens_per_s.toFixed(1)} tok/s`, tp.eta_s, `${tp.n_positions} positions`);
          await pause();
        } while (!tp.finished && !interrupted && (teacherMaxS <= 0 || tp.elapsed_s < teacherMaxS));
      } finally {
        teacher.close();
      }
      process.stderr.write(`\nteacher: ${tp.n_done} answers (${tp.n_resumed} from the cache, ${tp.n_skipped} prompts too long), ${tp.n_positions} positions, ` +
        `${((performance.now() - t0) / 1000).toFixed(1)} s -> ${teacherPath}\n`);
      if (interrupted) throw new UsageError("interrupted: the teacher data collected so far is kept; rerun with --resume");
      if (!tp.finished) process.stderr.write(`teacher: stopped by --teacher-max-s ${teacherMaxS}; training on what was collected\n`);
    }

    // phase 2+3: draft vocabulary and training
    const t1 = performance.now();
    const trainer = Trainer.open(model, teacherPath, {
      beamLength: L, nDraftVocab, nLayers, nProj: v["n-proj"] !== undefined ? num("n-proj", v["n-proj"], 0, { int: true, min: 0 }) : model.nEmbd >= 512 ? model.nEmbd : 0,
      weights, epochs, batchSize: batch, lr, seed, threads,
    }, ckpt, v.resume ?? false);
    let pr;
    let evals = 0;
    try {
      do {
        pr = trainer.run(250);
        bar("train", pr.step, pr.total_steps, `${pr.samples_per_s.toFixed(0)} samples/s`, pr.eta_s, `loss ${pr.loss.toFixed(3)} lr ${pr.lr.toExponential(1)}`);
        if (pr.n_evals !== evals) {
          evals = pr.n_evals;
          process.stderr.write(`\nepoch ${pr.epoch}: held-out KL ${pr.eval_kl.toFixed(3)}  top-1 ${pr.acc1.map((x) => x.toFixed(3)).join(" ")}  top-4 ${pr.accB.map((x) => x.toFixed(3)).join(" ")}\n`);
        }
        await pause();
      } while (!pr.finished && !interrupted);
      if (interrupted) {
        trainer.checkpoint();
        throw new UsageError(`interrupted at step ${pr.step}: checkpoint ${ckpt} written; rerun with --resume`);
      }
      trainer.save(out);
    } finally {
      trainer.close();
    }
    process.stderr.write(`\ntrain: ${pr.step} steps over ${pr.n_train_samples} samples/epoch, draft vocab ${nDraftVocab} (coverage ${(pr.coverage * 100).toFixed(1)}%), ` +
      `${((performance.now() - t1) / 1000).toFixed(1)} s -> ${out}\n`);

    // phase 4: tau by real speculative generation on the held-out prompts
    if (held) {
      const drafter = Drafter.load(out, model);
      try {
        const r = evalTau(model, drafter.ptr, held, 4, L, tauTokens, threads);
        process.stderr.write(`tau on ${nHold} held-out prompts (B=4, L=${L}, ${tauTokens} tokens): ${r.tau.toFixed(3)}\n`);
      } finally {
        drafter.close();
      }
    }
  } finally {
    process.off("SIGINT", onSigint);
    model.close();
  }
}
