// structs.ts - C layouts (LP64: x86-64 and arm64) of the rd_* structs passed by pointer, and a
// buffer type that writes their fields. tests/engine/ffi-layout.test.ts checks every offset
// against offsetof() from the real header, so a header change that moves a field fails there.
import { ptr } from "bun:ffi";

export type FieldType = "i32" | "u32" | "u64" | "f32" | "f64" | "bool" | "ptr";

export interface Layout {
  size: number;
  fields: Record<string, readonly [offset: number, type: FieldType]>;
}

export const layouts = {
  rd_model_params: {
    size: 24,
    fields: { n_gpu_layers: [0, "i32"], device: [8, "ptr"], use_mmap: [16, "bool"], batch_invariant: [17, "bool"] },
  },
  rd_drafter_init_params: {
    size: 40,
    fields: {
      n_draft_vocab: [0, "i32"],
      n_layers: [4, "i32"],
      n_proj: [8, "i32"],
      weight_type: [12, "i32"],
      seed: [16, "u64"],
      init_scale: [24, "f32"],
      vocab_ids: [32, "ptr"],
    },
  },
  rd_session_params: {
    size: 32,
    fields: {
      n_ctx: [0, "i32"],
      n_batch: [4, "i32"],
      n_threads: [8, "i32"],
      beam_width: [12, "i32"],
      beam_length: [16, "i32"],
      flash_attn: [20, "i32"],
      kv_f32: [24, "bool"],
      adaptive: [25, "bool"],
      lazy_head: [26, "bool"],
      lookup: [28, "i32"],
    },
  },
  rd_embedder_params: {
    size: 12,
    fields: { n_ctx: [0, "i32"], n_threads: [4, "i32"], pooling: [8, "i32"] },
  },
  rd_sampler_params: {
    size: 88,
    fields: {
      temperature: [0, "f32"],
      top_k: [4, "i32"],
      top_p: [8, "f32"],
      min_p: [12, "f32"],
      seed: [16, "u32"],
      repeat_penalty: [20, "f32"],
      penalty_last_n: [24, "i32"],
      presence_penalty: [28, "f32"],
      frequency_penalty: [32, "f32"],
      logit_bias_tokens: [40, "ptr"],
      logit_bias_values: [48, "ptr"],
      n_logit_bias: [56, "i32"],
      grammar: [64, "ptr"],
      grammar_root: [72, "ptr"],
      ignore_eos: [80, "bool"],
      n_probs: [84, "i32"],
    },
  },
  rd_step_result: {
    size: 72,
    fields: {
      n_tokens: [0, "i32"],
      finish: [4, "i32"],
      n_drafted: [8, "i32"],
      n_tree: [12, "i32"],
      n_accepted: [16, "i32"],
      target_calls: [20, "i32"],
      t_draft_ms: [24, "f64"],
      t_verify_ms: [32, "f64"],
      t_other_ms: [40, "f64"],
      n_head: [48, "i32"],
      t_head_ms: [56, "f64"],
      n_copy: [64, "i32"],
      n_copy_accepted: [68, "i32"],
    },
  },
  // --- knowledge distillation (redrafter.h, rd_teacher_* / rd_train*) ---
  rd_teacher_params: {
    size: 24,
    fields: {
      n_parallel: [0, "i32"],
      max_new_tokens: [4, "i32"],
      top_k: [8, "i32"],
      prompt_tail: [12, "i32"],
      n_ctx_seq: [16, "i32"],
      n_threads: [20, "i32"],
    },
  },
  rd_teacher_progress: {
    size: 80,
    fields: {
      n_prompts: [0, "u64"],
      n_done: [8, "u64"],
      n_skipped: [16, "u64"],
      n_resumed: [24, "u64"],
      n_positions: [32, "u64"],
      n_tokens_run: [40, "u64"],
      elapsed_s: [48, "f64"],
      tokens_per_s: [56, "f64"],
      eta_s: [64, "f64"],
      finished: [72, "u64"],
    },
  },
  rd_train_params: {
    size: 88,
    fields: {
      beam_length: [0, "i32"],
      n_draft_vocab: [4, "i32"],
      n_layers: [8, "i32"],
      n_proj: [12, "i32"],
      weight_type: [16, "i32"],
      epochs: [20, "i32"],
      batch_size: [24, "i32"],
      lr: [28, "f32"],
      lr_min_ratio: [32, "f32"],
      warmup_steps: [36, "i32"],
      weight_decay: [40, "f32"],
      ce_weight: [44, "f32"],
      holdout: [48, "f32"],
      eval_beams: [52, "i32"],
      max_eval_samples: [56, "i32"],
      checkpoint_every: [60, "i32"],
      n_threads: [64, "i32"],
      seed: [72, "u64"],
      max_positions: [80, "u64"],
    },
  },
  rd_train_progress: {
    size: 376, // acc1 [16 x f64] at 112, accB [16 x f64] at 240 (read with trainProgressAcc)
    fields: {
      step: [0, "u64"],
      total_steps: [8, "u64"],
      epoch: [16, "u64"],
      epochs: [24, "u64"],
      n_train_samples: [32, "u64"],
      n_eval_samples: [40, "u64"],
      loss: [48, "f64"],
      lr: [56, "f64"],
      elapsed_s: [64, "f64"],
      samples_per_s: [72, "f64"],
      eta_s: [80, "f64"],
      coverage: [88, "f64"],
      n_evals: [96, "u64"],
      eval_kl: [104, "f64"],
      finished: [368, "u64"],
    },
  },
} as const satisfies Record<string, Layout>;

type Layouts = typeof layouts;
export type StructName = keyof Layouts;
type FieldOf<S extends StructName> = keyof Layouts[S]["fields"] & string;

/** A struct in a JS-owned buffer. Pointer fields keep their target referenced by this object,
 *  so the pointee lives as long as the struct does (the caller keeps it alive during the call). */
export class Struct<S extends StructName> {
  readonly bytes: Uint8Array;
  private readonly view: DataView;
  private readonly layout: Layout;
  private readonly keep = new Map<string, unknown>();

  constructor(readonly name: S) {
    this.layout = layouts[name];
    this.bytes = new Uint8Array(this.layout.size);
    this.view = new DataView(this.bytes.buffer);
  }

  set(field: FieldOf<S>, value: number | bigint | boolean): this {
    const [off, type] = this.field(field);
    const v = this.view;
    switch (type) {
      case "i32": v.setInt32(off, Number(value), true); break;
      case "u32": v.setUint32(off, Number(value) >>> 0, true); break;
      case "u64": v.setBigUint64(off, BigInt(value), true); break;
      case "f32": v.setFloat32(off, Number(value), true); break;
      case "f64": v.setFloat64(off, Number(value), true); break;
      case "bool": v.setUint8(off, value ? 1 : 0); break;
      case "ptr": throw new TypeError(`${this.name}.${field} is a pointer: use setPtr`);
    }
    return this;
  }

  /** Point a pointer field at a JS-owned array (NULL for null); the array is kept referenced. */
  setPtr(field: FieldOf<S>, target: Uint8Array | Int32Array | Float32Array | null): this {
    const [off, type] = this.field(field);
    if (type !== "ptr") throw new TypeError(`${this.name}.${field} is not a pointer`);
    const p = target && target.byteLength > 0 ? BigInt(ptr(target)) : 0n;
    this.view.setBigUint64(off, p, true);
    this.keep.set(field, target);
    return this;
  }

  get(field: FieldOf<S>): number {
    const [off, type] = this.field(field);
    const v = this.view;
    switch (type) {
      case "i32": return v.getInt32(off, true);
      case "u32": return v.getUint32(off, true);
      case "u64": return Number(v.getBigUint64(off, true));
      case "f32": return v.getFloat32(off, true);
      case "f64": return v.getFloat64(off, true);
      case "bool": return v.getUint8(off);
      case "ptr": return Number(v.getBigUint64(off, true));
    }
  }

  private field(field: string): readonly [number, FieldType] {
    const f = this.layout.fields[field];
    if (!f) throw new TypeError(`${this.name} has no field ${field}`);
    return f;
  }
}
