// distill.ts - knowledge distillation handles over libredrafter (rd_teacher, rd_trainer,
// rd_eval_tau): teacher data collection and drafter training, both time-sliced (each run() call
// returns after about maxMs with a progress snapshot), so callers poll without a thread.
import { type Pointer } from "bun:ffi";
import { WeightType, type WeightTypeName } from "./drafter.ts";
import { check } from "./errors.ts";
import { Handle } from "./handle.ts";
import type { Model } from "./model.ts";
import { Struct } from "./structs.ts";
import { cstr, lib } from "./symbols.ts";

/** Prompts as one flat token array plus n+1 offsets (prompt i = tokens[offsets[i]..offsets[i+1])). */
export interface PromptTokens {
  tokens: Int32Array;
  offsets: BigInt64Array;
}

export function packPrompts(prompts: number[][]): PromptTokens {
  const total = prompts.reduce((n, p) => n + p.length, 0);
  const tokens = new Int32Array(Math.max(1, total));
  const offsets = new BigInt64Array(prompts.length + 1);
  let at = 0;
  prompts.forEach((p, i) => {
    tokens.set(p, at);
    at += p.length;
    offsets[i + 1] = BigInt(at);
  });
  return { tokens, offsets };
}

export interface TeacherParams {
  nParallel?: number;
  maxNewTokens?: number;
  topK?: number;
  promptTail?: number;
  nCtxSeq?: number;
  threads?: number;
}

export interface TeacherProgress {
  n_prompts: number;
  n_done: number;
  n_skipped: number;
  n_resumed: number;
  n_positions: number;
  n_tokens_run: number;
  elapsed_s: number;
  tokens_per_s: number;
  eta_s: number; // -1 = unknown yet
  finished: boolean;
}

/** The target answering a prompt pool greedily, recorded to a teacher file (rd_teacher). */
export class Teacher extends Handle {
  readonly #progress = new Struct("rd_teacher_progress");

  private constructor(p: Pointer, model: Model) {
    super(p, "Teacher", [model]);
  }

  protected free(p: Pointer): void {
    lib().rd_teacher_free(p);
  }

  /** The cache key of these prompts and params (the library's, so every front end names the
   *  same file): 16 hex digits. */
  static cacheKey(model: Model, prompts: PromptTokens, params: TeacherParams = {}): string {
    const key = lib().rd_teacher_cache_key(model.ptr, Teacher.params(params).bytes, prompts.tokens, prompts.offsets, prompts.offsets.length - 1);
    return BigInt.asUintN(64, BigInt(key)).toString(16).padStart(16, "0");
  }

  private static params(params: TeacherParams): Struct<"rd_teacher_params"> {
    const p = new Struct("rd_teacher_params");
    lib().rd_teacher_default_params(p.bytes);
    if (params.nParallel !== undefined) p.set("n_parallel", params.nParallel);
    if (params.maxNewTokens !== undefined) p.set("max_new_tokens", params.maxNewTokens);
    if (params.topK !== undefined) p.set("top_k", params.topK);
    if (params.promptTail !== undefined) p.set("prompt_tail", params.promptTail);
    if (params.nCtxSeq !== undefined) p.set("n_ctx_seq", params.nCtxSeq);
    if (params.threads !== undefined) p.set("n_threads", params.threads);
    return p;
  }

  static open(model: Model, prompts: PromptTokens, path: string, params: TeacherParams = {}): Teacher {
    const p = Teacher.params(params);
    const out = new BigUint64Array(1);
    const n = prompts.offsets.length - 1;
    check(lib().rd_teacher_init(model.ptr, p.bytes, prompts.tokens, prompts.offsets, n, cstr(path), out), "teacher data");
    return new Teacher(Number(out[0]) as Pointer, model);
  }

  /** Work for about maxMs, then report. */
  run(maxMs: number): TeacherProgress {
    const pr = this.#progress;
    check(lib().rd_teacher_run(this.ptr, maxMs, pr.bytes), "teacher data");
    return {
      n_prompts: pr.get("n_prompts"),
      n_done: pr.get("n_done"),
      n_skipped: pr.get("n_skipped"),
      n_resumed: pr.get("n_resumed"),
      n_positions: pr.get("n_positions"),
      n_tokens_run: pr.get("n_tokens_run"),
      elapsed_s: pr.get("elapsed_s"),
      tokens_per_s: pr.get("tokens_per_s"),
      eta_s: pr.get("eta_s"),
      finished: pr.get("finished") === 1,
    };
  }

}

export interface TrainParams {
  beamLength?: number;
  nDraftVocab?: number;
  nLayers?: number;
  nProj?: number;
  weights?: WeightTypeName;
  epochs?: number;
  batchSize?: number;
  lr?: number;
  warmupSteps?: number;
  ceWeight?: number;
  holdout?: number;
  evalBeams?: number;
  checkpointEvery?: number;
  threads?: number;
  seed?: number | bigint;
  /** train on whole training sequences up to this many positions (0 = all) */
  maxPositions?: number;
}

export interface TrainProgress {
  step: number;
  total_steps: number;
  epoch: number;
  epochs: number;
  n_train_samples: number;
  n_eval_samples: number;
  loss: number;
  lr: number;
  elapsed_s: number;
  samples_per_s: number;
  eta_s: number;
  coverage: number;
  n_evals: number;
  eval_kl: number;
  acc1: number[]; // per draft step k = 1..L, held-out top-1
  accB: number[]; // held-out top-B
  finished: boolean;
}

/** A drafter in training on a teacher file (rd_trainer). */
export class Trainer extends Handle {
  readonly #progress = new Struct("rd_train_progress");

  private constructor(p: Pointer, model: Model, readonly beamLength: number) {
    super(p, "Trainer", [model]);
  }

  protected free(p: Pointer): void {
    lib().rd_trainer_free(p);
  }

  /** teacherPaths: one teacher file, or several whose sequences are pooled. */
  static open(model: Model, teacherPaths: string | string[], params: TrainParams, checkpoint: string | null, resume: boolean): Trainer {
    const teacherPath = typeof teacherPaths === "string" ? teacherPaths : teacherPaths.join("\n");
    const L = lib();
    const p = new Struct("rd_train_params");
    L.rd_train_default_params(p.bytes);
    const set = (f: Parameters<typeof p.set>[0], v: number | bigint | undefined) => v !== undefined && p.set(f, v);
    set("beam_length", params.beamLength);
    set("n_draft_vocab", params.nDraftVocab);
    set("n_layers", params.nLayers);
    set("n_proj", params.nProj);
    set("weight_type", params.weights === undefined ? undefined : WeightType[params.weights]);
    set("epochs", params.epochs);
    set("batch_size", params.batchSize);
    set("lr", params.lr);
    set("warmup_steps", params.warmupSteps);
    set("ce_weight", params.ceWeight);
    set("holdout", params.holdout);
    set("eval_beams", params.evalBeams);
    set("checkpoint_every", params.checkpointEvery);
    set("n_threads", params.threads);
    set("seed", params.seed);
    set("max_positions", params.maxPositions);
    const out = new BigUint64Array(1);
    check(L.rd_trainer_init(model.ptr, cstr(teacherPath), p.bytes, checkpoint === null ? null : cstr(checkpoint), resume, out), "training");
    return new Trainer(Number(out[0]) as Pointer, model, p.get("beam_length"));
  }

  /** Train for about maxMs (or maxSteps steps, 0 = no cap), then report. */
  run(maxMs: number, maxSteps = 0): TrainProgress {
    const pr = this.#progress;
    check(lib().rd_trainer_run(this.ptr, maxMs, maxSteps, pr.bytes), "training");
    const acc = new Float64Array(pr.bytes.buffer, pr.bytes.byteOffset + 112, 32);
    const L = this.beamLength;
    return {
      step: pr.get("step"),
      total_steps: pr.get("total_steps"),
      epoch: pr.get("epoch"),
      epochs: pr.get("epochs"),
      n_train_samples: pr.get("n_train_samples"),
      n_eval_samples: pr.get("n_eval_samples"),
      loss: pr.get("loss"),
      lr: pr.get("lr"),
      elapsed_s: pr.get("elapsed_s"),
      samples_per_s: pr.get("samples_per_s"),
      eta_s: pr.get("eta_s"),
      coverage: pr.get("coverage"),
      n_evals: pr.get("n_evals"),
      eval_kl: pr.get("eval_kl"),
      acc1: Array.from(acc.subarray(0, L)),
      accB: Array.from(acc.subarray(16, 16 + L)),
      finished: pr.get("finished") === 1,
    };
  }

  checkpoint(): void {
    check(lib().rd_trainer_checkpoint(this.ptr), "checkpoint");
  }

  save(path: string): void {
    check(lib().rd_trainer_save(this.ptr, cstr(path)), `saving ${path}`);
  }
}

/** Mean accepted length (and tokens/s) of greedy speculative generation with drafter (a native
 *  rd_drafter pointer; null = plain decoding) on prompts. */
export function evalTau(model: Model, drafter: Pointer | null, prompts: PromptTokens, B: number, L: number,
                        maxNewTokens: number, threads: number): { tau: number; tokens_per_s: number } {
  const tau = new Float64Array(1);
  const tps = new Float64Array(1);
  const n = prompts.offsets.length - 1;
  check(lib().rd_eval_tau(model.ptr, drafter, prompts.tokens, prompts.offsets, n, B, L, maxNewTokens, threads, tau, tps), "tau");
  return { tau: tau[0]!, tokens_per_s: tps[0]! };
}
