// symbols.ts - the one bun:ffi symbol table of libredrafter (native/include/redrafter.h).
// The library is opened lazily on first use, in whichever thread asks (each Bun Worker opens it
// again: same process, same mapping), and the ggml backends are loaded once before any model.
import { dlopen, FFIType, suffix, type Pointer } from "bun:ffi";
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { llamaLibDir } from "./llama-paths.js";

export type { Pointer };

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");

const { ptr, i32, u64, bool, cstring, void: voidT } = FFIType;

const definitions = {
  rd_last_error: { args: [], returns: cstring },
  rd_version: { args: [], returns: cstring },
  rd_backend_init: { args: [ptr], returns: i32 },
  rd_log_set_quiet: { args: [bool], returns: voidT },

  rd_model_default_params: { args: [ptr], returns: voidT },
  rd_model_load: { args: [ptr, ptr, ptr], returns: i32 },
  rd_model_free: { args: [ptr], returns: voidT },
  rd_model_n_vocab: { args: [ptr], returns: i32 },
  rd_model_n_embd: { args: [ptr], returns: i32 },
  rd_model_n_ctx_train: { args: [ptr], returns: i32 },
  rd_model_token_bos: { args: [ptr], returns: i32 },
  rd_model_token_eos: { args: [ptr], returns: i32 },
  rd_model_token_is_eog: { args: [ptr, i32], returns: bool },
  rd_model_add_bos: { args: [ptr], returns: bool },
  rd_model_token_fim_pre: { args: [ptr], returns: i32 },
  rd_model_token_fim_suf: { args: [ptr], returns: i32 },
  rd_model_token_fim_mid: { args: [ptr], returns: i32 },
  rd_model_fingerprint: { args: [ptr], returns: u64 },
  rd_model_meta: { args: [ptr, ptr, ptr, i32], returns: i32 },
  rd_model_tokenize: { args: [ptr, ptr, i32, bool, bool, ptr, i32], returns: i32 },
  rd_model_token_to_piece: { args: [ptr, i32, bool, ptr, i32], returns: i32 },

  rd_drafter_init_default_params: { args: [ptr], returns: voidT },
  rd_drafter_write_random: { args: [ptr, ptr, ptr], returns: i32 },
  rd_drafter_load: { args: [ptr, ptr, ptr], returns: i32 },
  rd_drafter_free: { args: [ptr], returns: voidT },
  rd_drafter_n_draft_vocab: { args: [ptr], returns: i32 },
  rd_drafter_n_layers: { args: [ptr], returns: i32 },

  rd_session_default_params: { args: [ptr], returns: voidT },
  rd_sampler_default_params: { args: [ptr], returns: voidT },
  rd_session_init: { args: [ptr, ptr, ptr, ptr], returns: i32 },
  rd_session_free: { args: [ptr], returns: voidT },
  rd_session_n_ctx: { args: [ptr], returns: i32 },
  rd_session_n_past: { args: [ptr], returns: i32 },
  rd_session_kv_cells: { args: [ptr], returns: i32 },
  rd_session_flash_attn: { args: [ptr], returns: bool },
  rd_session_prefill: { args: [ptr, ptr, i32, ptr], returns: i32 },
  rd_session_step: { args: [ptr, bool, i32, ptr, ptr, ptr], returns: i32 },
  rd_session_step_beams: { args: [ptr, ptr, i32, i32, i32, ptr, ptr, ptr], returns: i32 },
  rd_session_prompt_logprobs: { args: [ptr, ptr, i32, i32, ptr], returns: i32 },
  rd_session_cancel: { args: [ptr], returns: voidT },
  rd_session_hidden: { args: [ptr], returns: ptr },

  // --- embeddings (src/ffi/embed.ts; embed.cpp) ---
  rd_embedder_default_params: { args: [ptr], returns: voidT },
  rd_embedder_init: { args: [ptr, ptr, ptr], returns: i32 },
  rd_embedder_free: { args: [ptr], returns: voidT },
  rd_embedder_n_ctx: { args: [ptr], returns: i32 },
  rd_embedder_n_embd: { args: [ptr], returns: i32 },
  rd_embedder_pooling: { args: [ptr], returns: i32 },
  rd_embedder_embed: { args: [ptr, ptr, i32, ptr], returns: i32 },
  rd_embedder_cancel: { args: [ptr], returns: voidT },

  // --- knowledge distillation (src/ffi/distill.ts; teacher.cpp, train*.cpp) ---
  rd_teacher_default_params: { args: [ptr], returns: voidT },
  rd_model_chat_user_prompt: { args: [ptr, ptr, ptr, i32], returns: i32 },
  rd_teacher_cache_key: { args: [ptr, ptr, ptr, ptr, i32], returns: u64 },
  rd_teacher_init: { args: [ptr, ptr, ptr, ptr, i32, ptr, ptr], returns: i32 },
  rd_teacher_run: { args: [ptr, i32, ptr], returns: i32 },
  rd_teacher_free: { args: [ptr], returns: voidT },
  rd_teacher_draft_vocab: { args: [ptr, ptr, i32, ptr, ptr], returns: i32 },
  rd_train_default_params: { args: [ptr], returns: voidT },
  rd_trainer_init: { args: [ptr, ptr, ptr, ptr, bool, ptr], returns: i32 },
  rd_trainer_run: { args: [ptr, i32, i32, ptr], returns: i32 },
  rd_trainer_checkpoint: { args: [ptr], returns: i32 },
  rd_trainer_save: { args: [ptr, ptr], returns: i32 },
  rd_trainer_free: { args: [ptr], returns: voidT },
  rd_eval_tau: { args: [ptr, ptr, ptr, ptr, i32, i32, i32, i32, i32, ptr, ptr], returns: i32 },
} as const;

/** Path of the shared library: $RD_LIBRARY, else native/build/libredrafter.{so,dylib}. */
export function libraryPath(): string {
  return process.env.RD_LIBRARY ?? join(repoRoot, "native", "build", `libredrafter.${suffix}`);
}

type Symbols = ReturnType<typeof dlopen<typeof definitions>>["symbols"];
let symbols: Symbols | null = null;
let quiet: boolean | null = null; // set before the library loads; the flag is process-wide

/** The symbol table; opens the library and loads the ggml backends on first call. */
export function lib(): Symbols {
  if (symbols) return symbols;
  const path = libraryPath();
  if (!existsSync(path)) {
    throw new Error(`libredrafter not found at ${path} (build it with: node scripts/build-native.js)`);
  }
  const opened = dlopen(path, definitions).symbols;
  if (quiet !== null) opened.rd_log_set_quiet(quiet); // before the backends load: they log
  // Backends live beside the prebuilt libllama that libredrafter links; ggml only finds them
  // when told the folder. RD_LLAMA_LIB_DIR overrides for a llama.cpp built elsewhere.
  const dir = process.env.RD_LLAMA_LIB_DIR ?? llamaLibDir(repoRoot).dir;
  const st = opened.rd_backend_init(cstr(dir));
  if (st !== 0) {
    throw new Error(`rd_backend_init(${dir}) failed: ${String(opened.rd_last_error())}`);
  }
  symbols = opened;
  return symbols;
}

/** A NUL-terminated UTF-8 copy of s; the caller keeps it referenced for the whole call. */
export function cstr(s: string): Buffer {
  return Buffer.from(s + "\0", "utf8");
}

/** Silence llama.cpp/ggml logging for the whole process (true), or send it to stderr. */
export function setNativeLogQuiet(q: boolean): void {
  quiet = q;
  lib().rd_log_set_quiet(q);
}

/** libredrafter's version string, e.g. "0.1.0 (llama.cpp b1234)". */
export function nativeVersion(): string {
  return String(lib().rd_version());
}
