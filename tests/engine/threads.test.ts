// threads.test.ts - the thread count "auto" picks: the setting as both argument systems read it,
// the candidate counts, the choice from a timing table (ties to the smaller count), and the
// cache: what its key holds, reuse under the same key, a new measurement under another, and
// entries dropped once their model file changed or went away. No timing is asserted.
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { threadsFlag, engineOptionsFrom, UsageError } from "../../src/cli/args.ts";
import { loadConfig } from "../../src/config.ts";
import { calibrationKey } from "../../src/engine/calibrate.ts";
import {
  chooseThreads, describeTable, parseThreads, readCalibration, stepCost, threadCandidates, threadsCachePath, writeCalibration,
  type CacheEntry, type ThreadTiming,
} from "../../src/engine/threads.ts";
import { setNativeLogQuiet } from "../../src/ffi/symbols.ts";
import { ensureNative, BUILD_TIMEOUT_MS } from "../helpers/tiny-model.ts";

const row = (threads: number, plainMs: number, verify4Ms = plainMs, verify16Ms = plainMs, draftMs = 0): ThreadTiming =>
  ({ threads, plainMs, verify4Ms, verify16Ms, draftMs, rounds: 5 });

describe("the --threads setting", () => {
  it("reads auto, 0 (auto) and counts the same way in serve's config and the other commands' flags", () => {
    for (const [raw, want] of [["auto", "auto"], ["AUTO", "auto"], ["0", "auto"], ["3", 3], [" 12 ", 12]] as const) {
      expect(parseThreads(raw)).toBe(want);
      expect(loadConfig(["--threads", raw], {}).config.threads).toBe(want);
      expect(threadsFlag(raw)).toBe(want);
    }
    expect(parseThreads(4)).toBe(4); // a config file's number
    for (const bad of ["-1", "1.5", "two", "", "1025"]) {
      expect(parseThreads(bad)).toBeUndefined();
      expect(() => loadConfig(["--threads", bad], {})).toThrow(/invalid threads/);
      expect(() => threadsFlag(bad)).toThrow(UsageError);
    }
  });

  it("defaults to auto everywhere; --recalibrate-threads reaches the engine options", () => {
    expect(loadConfig([], {}).config).toMatchObject({ threads: "auto", recalibrateThreads: false });
    expect(loadConfig([], { REDRAFTER_THREADS: "2", REDRAFTER_RECALIBRATE_THREADS: "1" }).config)
      .toMatchObject({ threads: 2, recalibrateThreads: true });
    expect(engineOptionsFrom({ model: "m.gguf" })).toMatchObject({ threads: "auto", recalibrateThreads: false });
    expect(engineOptionsFrom({ model: "m.gguf", threads: "6", "recalibrate-threads": true }))
      .toMatchObject({ threads: 6, recalibrateThreads: true });
  });
});

describe("threadCandidates", () => {
  it("measures every count up to 8, then even ones, up to 16 and the cores each slot may have", () => {
    expect(threadCandidates(2, 1)).toEqual([1, 2]);
    expect(threadCandidates(1, 1)).toEqual([1]);
    expect(threadCandidates(8, 2)).toEqual([1, 2, 3, 4]);
    expect(threadCandidates(3, 4)).toEqual([1]);
    expect(threadCandidates(22, 2)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 10, 11]);
    expect(threadCandidates(128, 1)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16]);
  });
});

describe("chooseThreads", () => {
  it("picks the count of the lowest cost", () => {
    expect(chooseThreads([row(1, 40), row(2, 22), row(3, 18), row(4, 25)], false)).toBe(3);
  });

  it("prefers the smaller count on a tie or within 3% of the best", () => {
    expect(chooseThreads([row(1, 20), row(2, 20)], false)).toBe(1);
    expect(chooseThreads([row(1, 40), row(2, 20.5), row(3, 20)], false)).toBe(2); // 2.5% slower
    expect(chooseThreads([row(1, 40), row(2, 21), row(3, 20)], false)).toBe(3); // 5% slower
    expect(chooseThreads([row(3, 20), row(2, 20), row(1, 30)], false)).toBe(2); // table order does not matter
  });

  it("stays within the counts the slots leave", () => {
    expect(chooseThreads([row(1, 40), row(2, 30), row(4, 10)], false, 2)).toBe(2);
  });

  it("never picks a count dropped before a step it needs was measured", () => {
    const dropped: ThreadTiming = { threads: 2, plainMs: 5, verify4Ms: null, verify16Ms: null, draftMs: null, rounds: 1 };
    expect(stepCost(dropped, true)).toBe(Infinity);
    expect(chooseThreads([row(1, 20), dropped], true)).toBe(1);
    expect(chooseThreads([row(1, 20), dropped], false)).toBe(2); // plain alone was measured
    const line = describeTable([row(1, 20), dropped], true, 1);
    expect(line).toMatch(/^1 \(/);
    expect(line).toContain("2 (dropped: far slower): plain 5.0, verify4 -");
  });

  it("weighs verification and drafting only when steps may speculate", () => {
    // 1 thread has the fastest plain step, 4 threads the fastest trees and drafts
    const table = [row(1, 20, 60, 160, 8), row(4, 24, 30, 60, 2)];
    expect(chooseThreads(table, false)).toBe(1);
    expect(chooseThreads(table, true)).toBe(4);
    expect(stepCost(table[0]!, true)).toBe(20); // min(20, (8 + 60) / 2, 160 / 4)
    expect(stepCost(table[1]!, true)).toBe(15); // min(24, (2 + 30) / 2, 60 / 4)
    expect(stepCost(table[0]!, false)).toBe(20);
  });

  it("takes the faster plain step over cheap trees of a slower count (SmolLM2, body kernel, 2 cores)", () => {
    // measured by serve's calibration: 1 thread plain 15.7, verify4 22.2, verify16 51.9, draft 2.0;
    // 2 threads 9.5, 22.4, 68.6, 1.3. bench: 2 threads ~100 tokens/s, 1 thread ~64-78
    expect(chooseThreads([row(1, 15.7, 22.2, 51.9, 2.0), row(2, 9.5, 22.4, 68.6, 1.3)], true)).toBe(2);
  });
});

describe("the timing cache", () => {
  let dir: string;
  let model: string;
  let drafter: string;
  const entry = (key: CacheEntry["key"], plainMs = 10): CacheEntry =>
    ({ key, table: [row(1, plainMs), row(2, plainMs / 2)], measuredAt: new Date().toISOString(), tookMs: 1 });
  const keyOf = (over: { drafter?: string | null; flashAttn?: -1 | 0 | 1; nCtx?: number; lookup?: number } = {}) =>
    calibrationKey({
      model: { path: model },
      drafter: over.drafter === null ? null : { path: over.drafter ?? drafter },
      modelSettings: { nGpuLayers: 0, device: null, batchInvariant: true },
      params: { nCtx: over.nCtx ?? 0, beamWidth: 1, beamLength: 2, flashAttn: over.flashAttn ?? -1, kvF32: false, lazyHead: true, lookup: over.lookup ?? 16 },
    }, [1, 2], 2);

  beforeAll(() => {
    ensureNative(); // the key holds the library's version and file stamp
    setNativeLogQuiet(true);
    dir = mkdtempSync(join(tmpdir(), "rd-threads-"));
    model = join(dir, "m.gguf");
    drafter = join(dir, "d.gguf");
    writeFileSync(model, "model");
    writeFileSync(drafter, "drafter");
  }, BUILD_TIMEOUT_MS);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("lives at $REDRAFTER_THREADS_CACHE, else under ~/.cache/redrafter", () => {
    expect(threadsCachePath({ REDRAFTER_THREADS_CACHE: "/x/t.json" })).toBe("/x/t.json");
    expect(threadsCachePath({})).toMatch(/\.cache\/redrafter\/threads\.json$/);
  });

  it("keys on the files, the library, the CPU and the settings that change step times", () => {
    const k = keyOf();
    expect(k.model).toMatchObject({ path: model, size: 5 });
    expect(k.drafter).toMatchObject({ path: drafter, size: 7 });
    expect(k.library.version).not.toBe("");
    expect(k.cpu).not.toBe("");
    expect(k.cores).toBe(2);
    expect(keyOf({ nCtx: 512, lookup: 0 })).toEqual(k); // fixed by the measurement
    expect(keyOf({ flashAttn: 1 })).not.toEqual(k);
    expect(keyOf({ drafter: null })).not.toEqual(k);
  });

  it("reuses a table under the same key, replaces it on a new measurement, keeps other keys", () => {
    const path = join(dir, "reuse.json");
    expect(readCalibration(path, keyOf())).toBeNull();
    writeCalibration(path, entry(keyOf(), 10));
    writeCalibration(path, entry(keyOf({ drafter: null }), 30));
    expect(readCalibration(path, keyOf())?.table[0]!.plainMs).toBe(10);
    expect(readCalibration(path, keyOf({ flashAttn: 0 }))).toBeNull();
    writeCalibration(path, entry(keyOf(), 12)); // --recalibrate-threads
    expect(readCalibration(path, keyOf())?.table[0]!.plainMs).toBe(12);
    expect(readCalibration(path, keyOf({ drafter: null }))?.table[0]!.plainMs).toBe(30);
  });

  it("misses once the model file changes, and drops entries of changed or missing models", () => {
    const path = join(dir, "stale.json");
    const before = keyOf();
    writeCalibration(path, entry(before));
    utimesSync(model, new Date(), new Date(Date.now() + 60_000));
    const after = keyOf();
    expect(after.model.mtimeMs).not.toBe(before.model.mtimeMs);
    expect(readCalibration(path, after)).toBeNull();
    const gone = join(dir, "gone.gguf");
    writeFileSync(gone, "x");
    const goneKey = { ...after, model: calibrationKey({ model: { path: gone }, drafter: null, modelSettings: {}, params: {} }, [1, 2], 2).model };
    writeCalibration(path, entry(goneKey));
    rmSync(gone);
    writeCalibration(path, entry(after));
    expect(readCalibration(path, before)).toBeNull();
    expect(readCalibration(path, goneKey)).toBeNull();
    expect(readCalibration(path, after)).not.toBeNull();
  });

  it("treats an unreadable file as empty and writes it afresh", () => {
    const path = join(dir, "corrupt.json");
    writeFileSync(path, "{not json");
    expect(readCalibration(path, keyOf())).toBeNull();
    writeCalibration(path, entry(keyOf()));
    expect(readCalibration(path, keyOf())).not.toBeNull();
  });
});
