// gguf-header.ts - the key/value metadata at the head of a GGUF file, read without loading the
// model (the memory estimate of a model before it loads: footprint.ts). Only the header is read,
// in 64 KiB pieces; the token list of a large vocabulary is skipped string by string.
//
// GGUF v2/v3, little-endian: "GGUF", u32 version, u64 n_tensors, u64 n_kv, then n_kv x (string
// key, u32 type, value). A string is u64 length + bytes; an array is u32 element type, u64 count,
// elements.
import { closeSync, openSync, readSync } from "node:fs";

/** A value: numbers, strings and booleans as they are; arrays as their numbers when numeric and
 *  short (per-layer hyper-parameters), else by their length alone (token lists). */
export type GgufValue = number | string | boolean | number[] | { length: number };

const STRING = 8;
const ARRAY = 9;
// bytes of each scalar type; 8 (string) and 9 (array) have none
const WIDTH: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };
const MAX_KV = 1 << 20;
const MAX_STRING = 1 << 26;
const SHORT_ARRAY = 4096;

class Cursor {
  #buf = Buffer.alloc(1 << 16);
  #start = 0; // file offset of #buf[0]
  #len = 0;
  at = 0; // file offset of the next byte to read

  constructor(
    private readonly fd: number,
    private readonly path: string,
  ) {}

  /** The buffer holding bytes [at, at + n), and where they start in it. */
  #need(n: number): number {
    if (this.at < this.#start || this.at + n > this.#start + this.#len) {
      if (n > this.#buf.length) this.#buf = Buffer.alloc(n);
      this.#start = this.at;
      this.#len = readSync(this.fd, this.#buf, 0, this.#buf.length, this.at);
      if (this.#len < n) throw new Error(`${this.path}: the GGUF header ends early (at byte ${this.at + this.#len})`);
    }
    const off = this.at - this.#start;
    this.at += n;
    return off;
  }

  u32(): number {
    return this.#buf.readUInt32LE(this.#need(4));
  }

  u64(limit: number, what: string): number {
    const v = this.#buf.readBigUInt64LE(this.#need(8));
    if (v > BigInt(limit)) throw new Error(`${this.path}: ${what} ${v} is more than a GGUF header holds`);
    return Number(v);
  }

  str(): string {
    const n = this.u64(MAX_STRING, "a string length");
    const off = this.#need(n);
    return this.#buf.toString("utf8", off, off + n);
  }

  scalar(type: number): number | boolean {
    const off = this.#need(WIDTH[type]!);
    const b = this.#buf;
    switch (type) {
      case 0: return b.readUInt8(off);
      case 1: return b.readInt8(off);
      case 2: return b.readUInt16LE(off);
      case 3: return b.readInt16LE(off);
      case 4: return b.readUInt32LE(off);
      case 5: return b.readInt32LE(off);
      case 6: return b.readFloatLE(off);
      case 7: return b.readUInt8(off) !== 0;
      case 10: return Number(b.readBigUInt64LE(off));
      case 11: return Number(b.readBigInt64LE(off));
      default: return b.readDoubleLE(off);
    }
  }

  value(type: number, key: string): GgufValue {
    if (type === STRING) return this.str();
    if (type !== ARRAY) {
      if (WIDTH[type] === undefined) throw new Error(`${this.path}: '${key}' has an unknown type ${type}`);
      return this.scalar(type);
    }
    const et = this.u32();
    const n = this.u64(Number.MAX_SAFE_INTEGER, `the length of '${key}'`);
    if (et === STRING) {
      for (let i = 0; i < n; i++) {
        const len = this.u64(MAX_STRING, "a string length");
        this.at += len;
      }
      return { length: n };
    }
    const w = WIDTH[et];
    if (w === undefined) throw new Error(`${this.path}: '${key}' is an array of an unknown type ${et}`);
    if (n > SHORT_ARRAY) {
      this.at += n * w;
      return { length: n };
    }
    return Array.from({ length: n }, () => Number(this.scalar(et)));
  }
}

/** The metadata of the GGUF at path, by key. Throws on a file that is not one. */
export function readGgufHeader(path: string): Map<string, GgufValue> {
  const fd = openSync(path, "r");
  try {
    const c = new Cursor(fd, path);
    if (c.u32() !== 0x46554747) throw new Error(`${path} is not a GGUF file`);
    const version = c.u32();
    if (version < 2 || version > 3) throw new Error(`${path}: GGUF version ${version} is not supported`);
    c.u64(Number.MAX_SAFE_INTEGER, "the tensor count");
    const nKv = c.u64(MAX_KV, "the key count");
    const out = new Map<string, GgufValue>();
    for (let i = 0; i < nKv; i++) {
      const key = c.str();
      out.set(key, c.value(c.u32(), key));
    }
    return out;
  } finally {
    closeSync(fd);
  }
}
