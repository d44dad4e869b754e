// options.ts - what Engine.load() is given, and what it derives from that: the model's and the
// sessions' params (the native defaults where an option is left out) and the ModelInfo it serves.
import { basename, resolve } from "node:path";
import type { Model, ModelParams } from "../ffi/model.ts";
import type { SessionParams } from "../ffi/session.ts";
import { chatFormat } from "./chat-template.ts";
import type { ThreadsSetting } from "./threads.ts";
import type { ModelInfo } from "./types.ts";

export interface EngineOptions {
  model: string; // target GGUF path
  drafter: string | null; // drafter GGUF path; null = plain decoding only
  nCtx: number; // per-session context, tokens; 0 = 4096 capped at the model's train ctx
  beamWidth: number; // B
  beamLength: number; // L
  nGpuLayers: number; // -1 = all, 0 = CPU only
  batchInvariant?: boolean; // logits independent of the batch: speculative == plain bit for bit, one chain per step. Default true
  device: string | null; // ggml device name, null = llama.cpp's choice
  threads: ThreadsSetting; // CPU threads per session; "auto" (or 0): measured at load (calibrate.ts)
  recalibrateThreads?: boolean; // with "auto": measure even when a cached table fits. Default false
  log?: (line: string) => void; // start-up notes (the thread choice). Default: stderr
  flashAttn: -1 | 0 | 1; // auto / off / on
  kvF32: boolean; // f32 KV cache (exactness tests), else f16
  adaptive?: boolean; // pick the draft length per step from measured acceptance and costs. Default true
  lazyHead?: boolean; // run the LM head only for the tree nodes the acceptance walk reaches. Default true
  lookup?: number; // context-copy beam, tokens at most (0 = off); drafts also without a drafter. Default 16
  slots?: number; // parallel sessions. Default 1
  queueSize?: number; // requests waiting beyond the slots before QueueFullError. Default 16
  maxQueueWaitMs?: number; // refuse (QueueFullError) a request expected to wait longer for a slot (turn.ts); 0 = no bound. Default 0
}

export function modelParams(opts: EngineOptions): ModelParams {
  return { nGpuLayers: opts.nGpuLayers, device: opts.device, batchInvariant: opts.batchInvariant ?? true };
}

/** Every session's params but the thread count, which calibration may choose. */
export function sessionShape(opts: EngineOptions): SessionParams {
  return {
    nCtx: opts.nCtx, beamWidth: opts.beamWidth, beamLength: opts.beamLength,
    flashAttn: opts.flashAttn, kvF32: opts.kvF32, adaptive: opts.adaptive ?? true,
    lazyHead: opts.lazyHead ?? true, lookup: opts.lookup ?? 16,
  };
}

/** What the engine serves, as /v1/models and the CLI report it. */
export function modelInfo(
  opts: EngineOptions,
  model: Model,
  withDrafter: boolean,
  params: SessionParams,
  session: { nCtx: number; flashAttn: boolean }, // as the first session opened
): ModelInfo {
  return {
    id: basename(opts.model).replace(/\.gguf$/i, ""),
    path: resolve(opts.model),
    nCtx: session.nCtx,
    nCtxTrain: model.nCtxTrain,
    nVocab: model.nVocab,
    nEmbd: model.nEmbd,
    ...chatFormat(model),
    drafter: withDrafter ? resolve(opts.drafter!) : null,
    beamWidth: withDrafter ? opts.beamWidth : 0,
    beamLength: withDrafter ? opts.beamLength : 0,
    lookup: params.lookup ?? 0,
    flashAttn: session.flashAttn,
    fim: model.fim,
  };
}
