// memory.ts - give the C heap's free memory back to the system when the engine goes idle.
//
// llama.cpp and the native library allocate from each slot worker's thread, so glibc serves
// them from per-thread arenas (64 MiB heaps) that keep what was freed for the next request. On
// Gemma 3 270M a warm server held ~60 MiB more anonymous memory after a few rounds of mixed
// requests than after one, and 300+ MiB more after the hostile load (bench/hostile.ts): freed,
// never returned. Two glibc calls fix it (bound in src/ffi/libc.ts, absent with another C
// library, musl or macOS, which then simply skips them):
// - mallopt(M_MMAP_THRESHOLD, 256 KiB) once at load: blocks that large (logit rows, grammar
//   stacks, request-sized buffers) get their own mapping, unmapped on free. A fixed threshold
//   also stops glibc from raising it after each large free, which is what sends such blocks into
//   the arenas in the first place.
// - malloc_trim(0) once the engine has been idle for IDLE_MS: every arena's free pages go back.
// The JavaScript heap does the same at that moment: a full collection and Bun.shrink() (a few
// ms on the main thread, only when nothing runs). On the tiny model, where the JS heap is most of
// the anonymous memory, 20 rounds of mixed requests after a warm one grew it 7.3 MiB without, 3.8
// MiB with. None of this changes what any allocation holds, so no output can change.
import { glibc, M_MMAP_THRESHOLD } from "../ffi/libc.ts";

const MMAP_THRESHOLD = 256 * 1024;
const IDLE_MS = 500;

/** Whether this process's C library has the calls (glibc). */
export function canTrim(): boolean {
  return glibc() !== null;
}

/** Once per process, before the weights load. */
export function tuneAllocator(): void {
  glibc()?.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD);
}

/** Trims the JS and C heaps when `idle()` still holds IDLE_MS after `poke()`; one timer at a time. */
export class IdleTrimmer {
  #timer: ReturnType<typeof setTimeout> | null = null;
  trims = 0;

  constructor(private readonly idle: () => boolean) {}

  poke(): void {
    if (this.#timer) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      if (!this.idle()) return;
      Bun.gc(true);
      Bun.shrink();
      glibc()?.malloc_trim(0n);
      this.trims++;
    }, IDLE_MS);
    this.#timer.unref?.();
  }

  stop(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }
}
