// libc.ts - glibc's allocator controls (mallopt, malloc_trim) for src/engine/memory.ts, looked
// up by name at run time so that another C library (musl, macOS) simply has none.
import { dlopen, FFIType } from "bun:ffi";

/** mallopt's parameter: blocks from this size up get their own mapping (glibc malloc.h). */
export const M_MMAP_THRESHOLD = -3;

export type Glibc = { mallopt: (param: number, value: number) => number; malloc_trim: (pad: bigint) => number };

let libc: Glibc | null | undefined;

/** glibc's calls, or null where the C library is another one; opened once per process. */
export function glibc(): Glibc | null {
  if (libc !== undefined) return libc;
  libc = null;
  if (process.platform !== "linux") return libc;
  try {
    const lib = dlopen("libc.so.6", {
      mallopt: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 },
      malloc_trim: { args: [FFIType.u64], returns: FFIType.i32 },
    });
    libc = lib.symbols as unknown as Glibc;
  } catch {
    // not glibc: nothing to tune
  }
  return libc;
}
