// drafter.ts - ReDrafter draft-head weights bound to one target (rd_drafter), and the writer of
// randomly initialised drafters (`redrafter drafter init`, tests).
import { type Pointer } from "bun:ffi";
import { check } from "./errors.ts";
import { Handle } from "./handle.ts";
import type { Model } from "./model.ts";
import { Struct } from "./structs.ts";
import { cstr, lib } from "./symbols.ts";

export const WeightType = { f32: 0, f16: 1, q8_0: 2 } as const;
export type WeightTypeName = keyof typeof WeightType;

export interface DrafterInitParams {
  nDraftVocab?: number; // V'; 0 = the whole target vocab
  nLayers?: number; // ResBlocks
  nProj?: number; // input projection 2d -> e; 0 = none
  weights?: WeightTypeName;
  seed?: number | bigint;
  initScale?: number;
  vocabIds?: Int32Array | null; // V' target ids of the draft vocab
}

export class Drafter extends Handle {
  private constructor(p: Pointer, model: Model, readonly path: string) {
    super(p, "Drafter", [model]);
  }

  protected free(p: Pointer): void {
    lib().rd_drafter_free(p);
  }

  /** Load a drafter GGUF for model; RD_ERR_MISMATCH when it was made for another target. */
  static load(path: string, model: Model): Drafter {
    const out = new BigUint64Array(1);
    check(lib().rd_drafter_load(cstr(path), model.ptr, out), `loading drafter ${path}`);
    return new Drafter(Number(out[0]) as Pointer, model, path);
  }

  /** Own a drafter for model that another thread loaded (see detach). */
  static fromPointer(p: Pointer, model: Model, path: string): Drafter {
    return new Drafter(p, model, path);
  }

  /** Write a randomly initialised drafter for model to path (GGUF carrying its fingerprint). */
  static writeRandom(model: Model, path: string, params: DrafterInitParams = {}): void {
    const L = lib();
    const p = new Struct("rd_drafter_init_params");
    L.rd_drafter_init_default_params(p.bytes);
    if (params.nDraftVocab !== undefined) p.set("n_draft_vocab", params.nDraftVocab);
    if (params.nLayers !== undefined) p.set("n_layers", params.nLayers);
    if (params.nProj !== undefined) p.set("n_proj", params.nProj);
    if (params.weights !== undefined) p.set("weight_type", WeightType[params.weights]);
    if (params.seed !== undefined) p.set("seed", BigInt(params.seed));
    if (params.initScale !== undefined) p.set("init_scale", params.initScale);
    if (params.vocabIds) p.setPtr("vocab_ids", params.vocabIds);
    check(L.rd_drafter_write_random(model.ptr, p.bytes, cstr(path)), `writing drafter ${path}`);
  }

  get nDraftVocab(): number { return lib().rd_drafter_n_draft_vocab(this.ptr); }
  get nLayers(): number { return lib().rd_drafter_n_layers(this.ptr); }
}
