// distill.ts - `redrafter distill`: train a drafter for any GGUF target by knowledge
// distillation. Phases: teacher data (the target answers the prompts greedily; cached under
// --cache-dir, keyed by target + prompts + settings, so a rerun skips it) -> draft vocabulary ->
// training with an evaluation per epoch and checkpoints (--resume continues) -> the drafter GGUF
// -> tau on held-out prompts. The native work is time-sliced (250 ms per call), so this loop
// polls progress and draws the bars on stderr without a worker.
import { closeSync, existsSync, mkdirSync, openSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { COMMANDS, settingsOf } from "../config.ts";
import { chatFormat, chatPromptText } from "../engine/chat-template.ts";
import { Drafter } from "../ffi/drafter.ts";
import { evalTau, packPrompts, Teacher, Trainer, type PromptTokens, type TeacherParams } from "../ffi/distill.ts";
import { Model } from "../ffi/model.ts";
import { repoRoot, setNativeLogQuiet } from "../ffi/symbols.ts";
import { phaseLine } from "../models/progress.ts";
import { autoProj, UsageError } from "./args.ts";
import { readPrompts, spread, type Prompt } from "./prompts.ts";

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
export function templated(model: Model, prompts: string[]): number[][] {
  const format = chatFormat(model);
  return prompts.map((p) => Array.from(model.tokenize(chatPromptText(format, [{ role: "user", content: p }]), true, true)));
}

const pause = () => new Promise<void>((r) => setTimeout(r, 0)); // lets SIGINT through between slices

/** The texts not in `seen`, each once; they are added to it. */
const unseen = (texts: string[], seen: Set<string>) => texts.filter((t) => !seen.has(t) && (seen.add(t), true));

/** Each prompt text once (the first occurrence). */
function unique(prompts: Prompt[]): Prompt[] {
  const seen = new Set<string>();
  return prompts.filter((p) => !seen.has(p.prompt) && (seen.add(p.prompt), true));
}

/** KV cells per scored text: longer texts are skipped. */
const SCORE_CTX = 1024;

/** Collect (or find in the cache, or resume) teacher data for these prompts: the target's greedy
 *  answers, or with maxNewTokens 1 and promptTail covering the prompt, the prompt's text scored
 *  by prefill. Returns the file's path; a --resume of training keeps the file as it is. */
async function collectTeacher(model: Model, phase: string, prompts: PromptTokens, params: TeacherParams, maxS: number,
                              cacheDir: string, keepAsIs: boolean, interrupted: () => boolean): Promise<string> {
  const path = join(cacheDir, `${phase}-${Teacher.cacheKey(model, prompts, params)}.rdt`);
  if (keepAsIs && existsSync(path)) {
    process.stderr.write(`${phase}: resuming training: using ${path} as it is\n`);
    return path;
  }
  const t0 = performance.now();
  const teacher = Teacher.open(model, prompts, path, params);
  const scoring = params.maxNewTokens === 1;
  let tp;
  try {
    do {
      tp = teacher.run(250);
      const rate = scoring ? `${(tp.n_tokens_run / Math.max(tp.elapsed_s, 1e-9)).toFixed(1)} prefill tok/s` : `${tp.tokens_per_s.toFixed(1)} tok/s`;
      phaseLine(phase, tp.n_done + tp.n_skipped, tp.n_prompts, rate, tp.eta_s, `${tp.n_positions} positions`);
      await pause();
    } while (!tp.finished && !interrupted() && (maxS <= 0 || tp.elapsed_s < maxS));
  } finally {
    teacher.close();
  }
  const [done, skipped] = scoring ? ["texts scored", "texts too long"] : ["answers", "prompts too long"];
  process.stderr.write(`\n${phase}: ${tp.n_done} ${done} (${tp.n_resumed} from the cache, ${tp.n_skipped} ${skipped}), ${tp.n_positions} positions, ` +
    `${((performance.now() - t0) / 1000).toFixed(1)} s -> ${path}\n`);
  if (interrupted()) throw new UsageError(`interrupted: the ${phase} data collected so far is kept; rerun with --resume`);
  if (!tp.finished) process.stderr.write(`${phase}: stopped by its time limit; training on what was collected\n`);
  return path;
}

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

  // all prompts (each text once), then an even stride of --limit; the last --holdout of them are held out
  const all = unique(promptFiles.flatMap((f) => readPrompts(f)));
  const picked = shuffled(spread(all, limit), seed);
  const nUse = picked.length;
  const nHold = Math.min(holdout, Math.floor(nUse / 2));
  const heldOut = picked.slice(nUse - nHold);

  // fail now rather than after the training: the outputs must be writable
  for (const [flag, path] of [["--out", out], ["--save-holdout", v.saveHoldout ? resolve(v.saveHoldout) : null]] as const) {
    if (!path) continue;
    try {
      mkdirSync(dirname(path), { recursive: true });
      closeSync(openSync(path, "a"));
    } catch (e) {
      throw new UsageError(`cannot write ${flag} ${path}: ${(e as NodeJS.ErrnoException).code ?? e}`);
    }
  }
  if (v.saveHoldout) writeFileSync(resolve(v.saveHoldout), heldOut.map((p) => JSON.stringify(p) + "\n").join(""));

  setNativeLogQuiet(!v.verbose);
  // as redrafter-distill: the teacher decodes many sequences per batch, where repacked weights are
  // faster, and the final tau verifies every beam (a batch-invariant session verifies one)
  const model = Model.load(target, { batchInvariant: false });
  let interrupted = false;
  const onSigint = () => { interrupted = true; };
  process.on("SIGINT", onSigint);
  try {
    if (nDraftVocab > model.nVocab) throw new UsageError(`--draft-vocab ${nDraftVocab} is larger than the target's vocabulary (${model.nVocab})`);
    const trainTexts = picked.slice(0, nUse - nHold).map((p) => p.prompt);
    const toks = templated(model, picked.map((p) => p.prompt));
    const trainToks = toks.slice(0, nUse - nHold);
    const train = packPrompts(trainToks);
    const held: PromptTokens | null = nHold > 0 ? packPrompts(toks.slice(nUse - nHold)) : null;
    process.stderr.write(`prompts: ${nUse - nHold} for teacher data, ${nHold} held out (of ${all.length} in ${promptFiles.length} file(s))\n`);
    mkdirSync(cacheDir, { recursive: true });
    // resuming a training run keeps its teacher data exactly as it was (even if incomplete)
    const ckpt = `${out}.ckpt`;
    const collect = (phase: string, prompts: PromptTokens, params: TeacherParams, maxS: number) =>
      collectTeacher(model, phase, prompts, params, maxS, cacheDir, v.resume && existsSync(ckpt), () => interrupted);

    // phase 1: teacher data, cached by target + prompts + settings: the target's own answers,
    // then (--score) texts scored by prefill. A scored text's index is its prompt's index in the
    // answers' list, so the trainer holds a prompt's answer and text out together.
    const teacherPaths = [await collect("teacher", train, { nParallel: parallel, maxNewTokens: maxNew, topK, threads }, teacherMaxS)];
    // --answer: each file's prompts answered into a teacher file of its own
    const pooled = () => new Set([...trainTexts, ...heldOut.map((p) => p.prompt)]); // never answered or scored again
    const answered = pooled();
    for (const f of v.answer) {
      const extra = unseen(readPrompts(f).map((p) => p.prompt), answered);
      if (extra.length === 0) continue;
      process.stderr.write(`answers: ${extra.length} prompts of ${f}\n`);
      const toks = packPrompts(templated(model, extra));
      teacherPaths.push(await collect("teacher", toks, { nParallel: parallel, maxNewTokens: maxNew, topK, threads }, v.answerMaxS));
    }
    if (v.score.length > 0) {
      const extra = unseen(v.score.flatMap((f) => readPrompts(f)).map((p) => p.prompt), pooled());
      const texts = packPrompts([...trainToks, ...templated(model, extra)]);
      process.stderr.write(`score: ${trainTexts.length + extra.length} texts (${extra.length} beside the prompts)\n`);
      teacherPaths.push(await collect("score", texts, { nParallel: 1, maxNewTokens: 1, promptTail: SCORE_CTX, nCtxSeq: SCORE_CTX, topK, threads }, v.scoreMaxS));
    }

    // phase 2+3: draft vocabulary and training
    const t1 = performance.now();
    const trainer = Trainer.open(model, teacherPaths, {
      beamLength: L, nDraftVocab, nLayers, nProj: v.nProj ?? autoProj(model),
      weights, epochs, batchSize: batch, lr, seed, threads, maxPositions: v.maxPositions,
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
    process.stderr.write(`\ntrain: ${pr.step} steps over ${pr.n_train_samples} samples/epoch (${pr.n_eval_samples} held out), draft vocab ${nDraftVocab} (coverage ${(pr.coverage * 100).toFixed(1)}%), ` +
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
