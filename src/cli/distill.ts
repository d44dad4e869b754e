// distill.ts - `redrafter distill`: train a drafter for any GGUF target by knowledge
// distillation. Phases: teacher data (the target answers the prompts greedily; cached under
// --cache-dir, keyed by target + prompts + settings, so a rerun skips it) -> draft vocabulary ->
// training with an evaluation per epoch and checkpoints (--resume continues) -> the drafter GGUF
// -> tau on held-out prompts. The native work is time-sliced (250 ms per call), so this loop
// polls progress and draws the bars on stderr without a worker.
import { closeSync, existsSync, mkdirSync, openSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { COMMANDS, settingsOf } from "../config.ts";
import { chatFormat, chatPromptText } from "../engine/chat-template.ts";
import { Drafter } from "../ffi/drafter.ts";
import { evalTau, packPrompts, Teacher, Trainer, type PromptTokens } from "../ffi/distill.ts";
import { Model } from "../ffi/model.ts";
import { repoRoot, setNativeLogQuiet } from "../ffi/symbols.ts";
import { phaseLine } from "../models/progress.ts";
import { autoProj, UsageError } from "./args.ts";
import { readPrompts, spread } from "./prompts.ts";

const settings = settingsOf(COMMANDS.distill);

const HELP = `usage: redrafter distill --target M --prompts FILE.jsonl [--prompts FILE2 ...] --out D.gguf [options]

${settings.help()}`;

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
  const format = chatFormat(model);
  return prompts.map((p) => Array.from(model.tokenize(chatPromptText(format, [{ role: "user", content: p }]), true, true)));
}

const pause = () => new Promise<void>((r) => setTimeout(r, 0)); // lets SIGINT through between slices

export async function runDistill(argv: string[]): Promise<void> {
  const { values: v, help } = settings.load(argv);
  if (help) return void console.log(HELP);
  const { target, prompts: promptFiles, holdout, maxNewTokens: maxNew, parallel, teacherTopK: topK, trainBeamLength: L } = v;
  const { trainDraftVocab: nDraftVocab, nLayers, trainWeights: weights, epochs, batch, lr, initSeed: seed, teacherMaxS, tauTokens } = v;
  if (!target) throw new UsageError(`--target is required\n\n${HELP}`);
  if (promptFiles.length === 0) throw new UsageError(`--prompts is required\n\n${HELP}`);
  if (!v.out) throw new UsageError(`--out is required\n\n${HELP}`);
  const out = resolve(v.out);
  const limit = v.limit ?? Infinity;
  const threads = v.threads === "auto" ? 0 : v.threads; // 0: the library's default, half the hardware threads
  const cacheDir = resolve(v.cacheDir ?? join(repoRoot, ".cache", "distill"));

  // all prompts, then an even stride of --limit; the last --holdout of them are held out
  const all = promptFiles.flatMap((f) => readPrompts(f).map((p) => p.prompt));
  const picked = shuffled(spread(all, limit), seed);
  const nUse = picked.length;
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
          phaseLine("teacher", tp.n_done + tp.n_skipped, tp.n_prompts, `${tp.tokens_per_s.toFixed(1)} tok/s`, tp.eta_s, `${tp.n_positions} positions`);
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
      beamLength: L, nDraftVocab, nLayers, nProj: v.nProj ?? autoProj(model),
      weights, epochs, batchSize: batch, lr, seed, threads,
    }, ckpt, v.resume);
    let pr;
    let evals = 0;
    try {
      do {
        pr = trainer.run(250);
        phaseLine("train", pr.step, pr.total_steps, `${pr.samples_per_s.toFixed(0)} samples/s`, pr.eta_s, `loss ${pr.loss.toFixed(3)} lr ${pr.lr.toExponential(1)}`);
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
