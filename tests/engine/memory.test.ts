// The idle trimmer (src/engine/memory.ts) hands the C heap's free pages back only once the
// engine has stayed idle, and at most once per quiet spell.
import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { canTrim, IdleTrimmer, tuneAllocator } from "../../src/engine/memory.ts";

describe("IdleTrimmer", () => {
  it("finds glibc's calls on Linux with glibc", () => {
    const glibc = ["/lib/x86_64-linux-gnu/libc.so.6", "/lib/aarch64-linux-gnu/libc.so.6", "/lib64/libc.so.6"].some(existsSync);
    if (process.platform === "linux" && glibc) expect(canTrim()).toBe(true);
  });

  it("trims after the quiet spell when idle, once for many pokes", async () => {
    tuneAllocator();
    const t = new IdleTrimmer(() => true);
    for (let i = 0; i < 5; i++) t.poke();
    await Bun.sleep(700);
    expect(t.trims).toBe(1);
  });

  it("does not trim while busy, nor after stop()", async () => {
    let idle = false;
    const busy = new IdleTrimmer(() => idle);
    busy.poke();
    await Bun.sleep(700);
    expect(busy.trims).toBe(0);
    idle = true;
    const stopped = new IdleTrimmer(() => idle);
    stopped.poke();
    stopped.stop();
    await Bun.sleep(700);
    expect(stopped.trims).toBe(0);
  });
});
