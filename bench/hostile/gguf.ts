// gguf.ts - where the fields of a GGUF file sit (header, key/value metadata, tensor infos, data)
// and corrupted copies built from that map, for bench/hostile.ts's corrupt phase. Each copy says
// whether a loader must refuse it (a truncated file, a count no file can hold) or may also
// accept it (a flipped byte in a name, a changed hyper-parameter that still makes sense).
//
// GGUF v2/v3, little-endian: "GGUF", u32 version, u64 n_tensors, u64 n_kv; n_kv x (string key,
// u32 type, value); n_tensors x (string name, u32 n_dims, n_dims x u64 dim, u32 type, u64
// offset); padding to general.alignment (32); tensor data. A string is u64 length + bytes.
import type { Rng } from "./rng.ts";

/** An integer field of the file worth corrupting, with its byte offset and width. */
interface Field {
  what: string; // "kv 'llama.block_count' value", "tensor 'output.weight' dim 0", ...
  kind: "count" | "length" | "type" | "dims" | "dim" | "offset" | "number";
  offset: number;
  width: 4 | 8;
}

export interface GgufLayout {
  size: number;
  infoEnd: number; // end of the tensor infos: everything before is header and metadata
  dataStart: number;
  fields: Field[];
  vocab: number | null; // length of tokenizer.ggml.tokens, when present
}

const SCALAR_WIDTH: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };
const STRING = 8;
const ARRAY = 9;

/** Reads the layout; throws on a file it cannot walk (the bench needs a sound original). */
export function gguf(bytes: Uint8Array): GgufLayout {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (v.getUint32(0, true) !== 0x46554747) throw new Error("not a GGUF file (bad magic)");
  const fields: Field[] = [
    { what: "n_tensors", kind: "count", offset: 8, width: 8 },
    { what: "n_kv", kind: "count", offset: 16, width: 8 },
  ];
  let at = 24;
  const u32 = () => ((at += 4), v.getUint32(at - 4, true));
  const u64 = () => ((at += 8), Number(v.getBigUint64(at - 8, true)));
  const str = (what: string) => {
    fields.push({ what: `${what} length`, kind: "length", offset: at, width: 8 });
    const n = u64();
    at += n;
    return new TextDecoder().decode(bytes.subarray(at - n, at));
  };
  const nTensors = Number(v.getBigUint64(8, true));
  const nKv = Number(v.getBigUint64(16, true));
  let vocab: number | null = null;
  let alignment = 32;
  for (let i = 0; i < nKv; i++) {
    const key = str(`kv #${i} key`);
    fields.push({ what: `kv '${key}' type`, kind: "type", offset: at, width: 4 });
    const type = u32();
    if (type === ARRAY) {
      fields.push({ what: `kv '${key}' element type`, kind: "type", offset: at, width: 4 });
      const et = u32();
      fields.push({ what: `kv '${key}' count`, kind: "count", offset: at, width: 8 });
      const n = u64();
      if (key === "tokenizer.ggml.tokens") vocab = n;
      if (et === STRING) for (let j = 0; j < n; j++) at += 8 + Number(v.getBigUint64(at, true));
      else at += n * SCALAR_WIDTH[et]!;
    } else if (type === STRING) {
      str(`kv '${key}'`);
    } else {
      const w = SCALAR_WIDTH[type];
      if (w === undefined) throw new Error(`kv '${key}': unknown type ${type}`);
      if (w >= 4 && type !== 6 && type !== 12) fields.push({ what: `kv '${key}' value`, kind: "number", offset: at, width: w as 4 | 8 });
      if (key === "general.alignment") alignment = v.getUint32(at, true);
      at += w;
    }
  }
  for (let i = 0; i < nTensors; i++) {
    const name = str(`tensor #${i} name`);
    fields.push({ what: `tensor '${name}' n_dims`, kind: "dims", offset: at, width: 4 });
    const nd = u32();
    for (let d = 0; d < nd; d++) fields.push({ what: `tensor '${name}' dim ${d}`, kind: "dim", offset: at + 8 * d, width: 8 });
    at += 8 * nd;
    fields.push({ what: `tensor '${name}' type`, kind: "type", offset: at, width: 4 });
    at += 4;
    fields.push({ what: `tensor '${name}' offset`, kind: "offset", offset: at, width: 8 });
    at += 8;
  }
  return { size: bytes.length, infoEnd: at, dataStart: Math.ceil(at / alignment) * alignment, fields, vocab };
}

export interface Corruption {
  summary: string;
  bytes: Uint8Array;
  mustRefuse: boolean; // false: loading it is also right, as long as nothing crashes or hangs
}

/** null: the file has no field of that kind (a drafter has no arrays). */
type Make = (src: Uint8Array, l: GgufLayout, rng: Rng) => Corruption | null;

/** A private copy (Buffer's slice() is a view: damage must not reach the original). */
const copy = (src: Uint8Array, end = src.length) => new Uint8Array(src.subarray(0, end));

function setInt(b: Uint8Array, f: Field, value: bigint): void {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (f.width === 4) v.setUint32(f.offset, Number(value & 0xffffffffn), true);
  else v.setBigUint64(f.offset, value & 0xffffffffffffffffn, true);
}

/** A copy with one field set to one of the values. */
function field(kind: Field["kind"], values: bigint[], mustRefuse: boolean, filter: (f: Field) => boolean = () => true): Make {
  return (src, l, rng) => {
    const candidates = l.fields.filter((f) => f.kind === kind && filter(f));
    if (candidates.length === 0) return null;
    const f = rng.pick(candidates);
    const value = rng.pick(values);
    const out = copy(src);
    setInt(out, f, value);
    return { summary: `${f.what} = ${value}`, bytes: out, mustRefuse };
  };
}

const HUGE = [1n << 62n, (1n << 32n) + 5n, 0xffffffffffffffffn, 1n << 40n];

/** The kinds of damage, in the order the phase cycles through them. */
export const CORRUPTIONS: { name: string; make: Make }[] = [
  { name: "zeroed magic", make: (s) => {
    const b = copy(s);
    b.fill(0, 0, 4);
    return { summary: "magic zeroed", bytes: b, mustRefuse: true };
  } },
  { name: "truncated in the metadata", make: (s, l, rng) => {
    const at = rng.int(0, l.infoEnd);
    return { summary: `truncated at byte ${at} of ${l.size} (metadata ends at ${l.infoEnd})`, bytes: copy(s, at), mustRefuse: true };
  } },
  { name: "truncated in the tensor data", make: (s, l, rng) => {
    const at = rng.int(l.dataStart, l.size);
    return { summary: `truncated at byte ${at} of ${l.size} (data starts at ${l.dataStart})`, bytes: copy(s, at), mustRefuse: true };
  } },
  { name: "huge tensor count", make: field("count", HUGE, true, (f) => f.what === "n_tensors") },
  { name: "huge kv count", make: field("count", HUGE, true, (f) => f.what === "n_kv") },
  { name: "byte flips in the header region", make: (s, l, rng) => {
    const b = copy(s);
    const n = rng.int(1, 17);
    const at: number[] = [];
    for (let i = 0; i < n; i++) {
      const p = rng.int(0, l.infoEnd);
      b[p] = b[p]! ^ (1 << rng.int(0, 8));
      at.push(p);
    }
    return { summary: `${n} bit flip(s) at ${at.slice(0, 6).join(",")}${n > 6 ? ",..." : ""}`, bytes: b, mustRefuse: false };
  } },
  { name: "huge string length", make: field("length", HUGE, true) },
  { name: "huge array count", make: field("count", HUGE, true, (f) => f.what.startsWith("kv")) },
  { name: "unknown value type", make: field("type", [13n, 255n, 0xffffffffn], true, (f) => f.what.startsWith("kv")) },
  { name: "tensor n_dims out of range", make: field("dims", [0n, 5n, 200n, 0xffffffffn], true) },
  { name: "tensor dim zero or huge", make: field("dim", [0n, ...HUGE], true) },
  { name: "unknown tensor type", make: field("type", [99n, 0xffffffffn], true, (f) => f.what.startsWith("tensor")) },
  { name: "tensor offset past the end or unaligned", make: (s, l, rng) => {
    const candidates = l.fields.filter((f) => f.kind === "offset");
    if (candidates.length === 0) return null;
    const f = rng.pick(candidates);
    const old = new DataView(s.buffer, s.byteOffset).getBigUint64(f.offset, true);
    const value = rng.pick([BigInt(l.size) * 2n, old + 1n, 1n << 62n]);
    const b = copy(s);
    setInt(b, f, value);
    return { summary: `${f.what} = ${value}`, bytes: b, mustRefuse: true };
  } },
  { name: "hyper-parameter zero or huge", make: field("number", [0n, 0xffffffffn, 1n << 31n, 1n << 20n], false) },
  { name: "zeroed span in the metadata", make: (s, l, rng) => {
    const b = copy(s);
    const at = rng.int(24, l.infoEnd);
    const n = rng.int(1, 257);
    b.fill(0, at, at + n);
    return { summary: `${n} bytes zeroed at ${at}`, bytes: b, mustRefuse: false };
  } },
];
