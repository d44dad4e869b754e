// footprint.ts - the memory a model will hold once served, estimated from its files before it
// loads (serve's --models-memory-mib budget), and the budget when none is given.
//
// estimate = GGUF file sizes (model + drafter: the weights)
//          + n_vocab x n_embd x 2 bytes (vocabulary-sized tables beside the weights)
//          + slots x (context x layers x (K + V width) x 2 bytes, 4 with --kv-f32: the KV cache)
//          + slots x 16 MiB (compute buffers, the slot's worker)
// Against serve's RSS less that of a server of the tiny model (69 MiB), after a short completion
// per slot, one thread: Gemma 3 270M Q4_K_M 562 MiB with 1 slot, 653 with 2 (estimate 658, 746);
// SmolLM2 135M Q4_1 242 and 340 (estimate 261, 367). A little over, as a budget wants it.
import { readFileSync, statSync } from "node:fs";
import { totalmem } from "node:os";
import { readGgufHeader, type GgufValue } from "./gguf-header.ts";

const MiB = 1024 * 1024;
const PER_SLOT = 16 * MiB;
const DEFAULT_CTX = 4096; // the context a session takes when none is set, capped at the trained one

export interface FootprintOptions {
  drafter: string | null;
  nCtx: number; // per slot; 0 = 4096 capped at the model's training context
  slots: number;
  kvF32: boolean;
}

/** Bytes the model at `model` is expected to hold once loaded with these options. */
export function estimateModelBytes(model: string, o: FootprintOptions): number {
  const h = readGgufHeader(model);
  const arch = String(h.get("general.architecture") ?? "");
  const num = (key: string, fallback = 0): number => {
    const v = h.get(`${arch}.${key}`);
    return typeof v === "number" ? v : fallback;
  };
  const layers = num("block_count");
  const embd = num("embedding_length");
  const heads = num("attention.head_count", 1);
  const kvHeads = h.get(`${arch}.attention.head_count_kv`) ?? heads; // one number, or one per layer
  const kvHeadsAt = (l: number) => (Array.isArray(kvHeads) ? (kvHeads[l] ?? 0) : typeof kvHeads === "number" ? kvHeads : heads);
  const width = num("attention.key_length", embd / heads) + num("attention.value_length", embd / heads);
  let kvPerToken = 0;
  for (let l = 0; l < layers; l++) kvPerToken += kvHeadsAt(l) * width;
  const nCtx = o.nCtx > 0 ? o.nCtx : Math.min(DEFAULT_CTX, num("context_length", DEFAULT_CTX));
  const vocab = num("vocab_size", lengthOf(h.get("tokenizer.ggml.tokens")));
  const weights = statSync(model).size + (o.drafter ? statSync(o.drafter).size : 0);
  const kv = nCtx * kvPerToken * (o.kvF32 ? 4 : 2);
  return Math.ceil(weights + vocab * embd * 2 + o.slots * (kv + PER_SLOT));
}

const lengthOf = (v: GgufValue | undefined) => (typeof v === "object" && v !== null ? v.length : 0);

/** The memory limit of this process's cgroup (v2, then v1), or null when there is none. */
function cgroupLimit(): number | null {
  for (const file of ["/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"]) {
    try {
      const n = Number(readFileSync(file, "utf8").trim()); // "max" is NaN: no limit
      if (Number.isFinite(n) && n > 0) return n;
    } catch {
      // not this cgroup version, or not Linux
    }
  }
  return null;
}

/** The budget in bytes: `mib`, or for 0 80% of the cgroup's or the machine's memory. */
export function memoryBudgetBytes(mib: number): number {
  if (mib > 0) return mib * MiB;
  return Math.floor(0.8 * Math.min(totalmem(), cgroupLimit() ?? Infinity));
}
