// threads-auto.test.ts - `--threads auto` (the default) as a user starts it on the tiny model:
// the first `serve` measures and writes the cache ($REDRAFTER_THREADS_CACHE, a temporary file
// here), the next reuses it without measuring, `--recalibrate-threads` measures again, a count
// given with --threads measures nothing; `generate` takes the same path. Timings are not asserted.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { threadCandidates } from "../../src/engine/threads.ts";
import { repoRoot } from "../../src/ffi/symbols.ts";
import { BUILD_TIMEOUT_MS, makeTinyModel, type TinyModel } from "../helpers/tiny-model.ts";
import { startServer } from "./server.ts";

let tiny: TinyModel;
let dir: string;
let cache: string;

beforeAll(() => {
  tiny = makeTinyModel();
  dir = mkdtempSync(join(tmpdir(), "rd-threads-auto-"));
  cache = join(dir, "threads.json");
}, BUILD_TIMEOUT_MS);

afterAll(() => {
  tiny?.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

const env = () => ({ REDRAFTER_THREADS_CACHE: cache });
const entries = () => (JSON.parse(readFileSync(cache, "utf8")) as { entries: { measuredAt: string; table: { threads: number }[] }[] }).entries;
const threadsLine = (log: string) => /threads: (\d+) \(.*\); (measured in|cached in) .*/.exec(log);

async function serveOnce(...args: string[]): Promise<string> {
  const s = await startServer(["--model", tiny.model, "--drafter", tiny.drafter, "--no-log-requests", ...args], { env: env() });
  const code = await s.stop();
  expect(code, s.log()).toBe(0);
  return s.log();
}

// one hardware thread leaves a single count: nothing is measured or cached
describe.skipIf(availableParallelism() < 2)("--threads auto", () => {
  it("serve measures once, caches, then starts from the cache; the choice is the sessions' count", async () => {
    const first = await serveOnce();
    const m = threadsLine(first);
    expect(m, first).not.toBeNull();
    expect(m![2]).toBe("measured in");
    expect(first).toContain(`slot(s) of ${m![1]} thread(s)`);
    const [e] = entries();
    expect(entries()).toHaveLength(1);
    expect(e!.table.map((r) => r.threads)).toEqual(threadCandidates(availableParallelism(), 1));

    const second = await serveOnce();
    expect(threadsLine(second)?.[2], second).toBe("cached in");
    expect(threadsLine(second)?.[1]).toBe(m![1]);
    expect(entries()).toEqual([e]);

    const again = await serveOnce("--recalibrate-threads");
    expect(threadsLine(again)?.[2], again).toBe("measured in");
    expect(entries()).toHaveLength(1);
    expect(entries()[0]!.measuredAt).not.toBe(e!.measuredAt);
  });

  it("a count given with --threads is used as is, and nothing is measured", async () => {
    const log = await serveOnce("--threads", "1");
    expect(log).not.toContain("threads: ");
    expect(log).toContain("slot(s) of 1 thread(s)");
  });

  it("generate takes the same path: measured under its own settings, then cached", () => {
    const run = (...extra: string[]) => spawnSync(process.execPath, [join(repoRoot, "src", "cli", "main.ts"), "generate",
      "--model", tiny.model, "--no-drafter", "--prompt", "hi", "--max-tokens", "4", "--json", ...extra],
      { encoding: "utf8", timeout: 60_000, env: { ...process.env, ...env() } });
    const before = existsSync(cache) ? entries().length : 0;
    const a = run();
    expect(a.status, a.stderr).toBe(0);
    expect(threadsLine(a.stderr)?.[2], a.stderr).toBe("measured in");
    expect(entries()).toHaveLength(before + 1);
    const b = run();
    expect(threadsLine(b.stderr)?.[2], b.stderr).toBe("cached in");
    expect(JSON.parse(b.stdout).n_generated).toBeGreaterThan(0);
  });
});
