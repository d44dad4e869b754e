// model.ts - a loaded target GGUF (rd_model): metadata, tokenizer, detokenizer. Owns the native
// pointer; handles created from it (drafters, sessions on this thread) are closed before it.
import { type Pointer } from "bun:ffi";
import { check } from "./errors.ts";
import { Handle } from "./handle.ts";
import { Struct } from "./structs.ts";
import { cstr, lib } from "./symbols.ts";

export interface ModelParams {
  nGpuLayers?: number; // -1 = all, 0 = CPU only
  device?: string | null; // ggml device name, null = llama.cpp's choice
  useMmap?: boolean;
  batchInvariant?: boolean; // logits independent of the batch (rd_model_params.batch_invariant). Default true
}

export type { Dependent } from "./handle.ts";

export class Model extends Handle {
  #piece = new Uint8Array(64);

  private constructor(p: Pointer, readonly path: string) {
    super(p, "Model");
  }

  protected free(p: Pointer): void {
    lib().rd_model_free(p);
  }

  static load(path: string, params: ModelParams = {}): Model {
    const L = lib();
    const p = new Struct("rd_model_params");
    L.rd_model_default_params(p.bytes);
    if (params.nGpuLayers !== undefined) p.set("n_gpu_layers", params.nGpuLayers);
    if (params.device) p.setPtr("device", cstr(params.device));
    if (params.useMmap !== undefined) p.set("use_mmap", params.useMmap);
    if (params.batchInvariant !== undefined) p.set("batch_invariant", params.batchInvariant);
    const out = new BigUint64Array(1);
    check(L.rd_model_load(cstr(path), p.bytes, out), `loading model ${path}`);
    return new Model(Number(out[0]) as Pointer, path);
  }

  /** Own a model that another thread loaded (see detach). */
  static fromPointer(p: Pointer, path: string): Model {
    return new Model(p, path);
  }

  get nVocab(): number { return lib().rd_model_n_vocab(this.ptr); }
  get nEmbd(): number { return lib().rd_model_n_embd(this.ptr); }
  get nCtxTrain(): number { return lib().rd_model_n_ctx_train(this.ptr); }
  get bos(): number { return lib().rd_model_token_bos(this.ptr); }
  get eos(): number { return lib().rd_model_token_eos(this.ptr); }
  get addBos(): boolean { return lib().rd_model_add_bos(this.ptr); }
  /** Fill-in-the-middle tokens (PRE prefix SUF suffix MID, then the middle); null without them. */
  get fim(): { pre: number; suf: number; mid: number } | null {
    const L = lib();
    const pre = L.rd_model_token_fim_pre(this.ptr), suf = L.rd_model_token_fim_suf(this.ptr), mid = L.rd_model_token_fim_mid(this.ptr);
    return pre < 0 || suf < 0 || mid < 0 ? null : { pre, suf, mid };
  }
  get fingerprint(): bigint { return BigInt(lib().rd_model_fingerprint(this.ptr)); }

  isEog(token: number): boolean {
    return lib().rd_model_token_is_eog(this.ptr, token);
  }

  /** A GGUF metadata string value, or null when the key is absent. */
  meta(key: string): string | null {
    const k = cstr(key);
    let buf = new Uint8Array(256);
    let n = lib().rd_model_meta(this.ptr, k, buf, buf.length);
    if (n < 0) return null;
    if (n >= buf.length) {
      buf = new Uint8Array(n + 1);
      n = lib().rd_model_meta(this.ptr, k, buf, buf.length);
    }
    return Buffer.from(buf.buffer, 0, n).toString("utf8");
  }

  tokenize(text: string, addSpecial = true, parseSpecial = false): Int32Array {
    const bytes = Buffer.from(text, "utf8");
    let out = new Int32Array(bytes.length + 2);
    let n = lib().rd_model_tokenize(this.ptr, bytes, bytes.length, addSpecial, parseSpecial, out, out.length);
    if (n < 0) {
      out = new Int32Array(-n);
      n = lib().rd_model_tokenize(this.ptr, bytes, bytes.length, addSpecial, parseSpecial, out, out.length);
    }
    if (n < 0) throw new Error(`tokenize: the tokenizer asked for ${-n} slots twice`);
    return out.subarray(0, n);
  }

  /** Raw bytes of a token's text (may be a partial UTF-8 sequence); a copy. */
  tokenBytes(token: number, special = false): Uint8Array {
    let n = lib().rd_model_token_to_piece(this.ptr, token, special, this.#piece, this.#piece.length);
    if (n === -2147483647) throw new RangeError(`token id ${token} is out of range`);
    if (n < 0) {
      this.#piece = new Uint8Array(-n);
      n = lib().rd_model_token_to_piece(this.ptr, token, special, this.#piece, this.#piece.length);
    }
    return this.#piece.slice(0, n);
  }
}
