// distill-cli.test.ts - `redrafter distill` and `redrafter bench` as a user runs them (spawned
// with Bun) on the tiny target: a short distillation writes a drafter that bench accepts, a rerun
// reuses the cached teacher data, and user mistakes are clear errors without stacks.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { repoRoot } from "../../src/ffi/symbols.ts";
import { BUILD_TIMEOUT_MS, makeTinyModel, type TinyModel } from "../helpers/tiny-model.ts";

let tiny: TinyModel;
let prompts: string;

beforeAll(() => {
  tiny = makeTinyModel();
  prompts = join(tiny.dir, "prompts.jsonl");
  const lines = Array.from({ length: 24 }, (_, i) => JSON.stringify({ id: `p${i}`, prompt: `Story number ${i}: once upon a time` }));
  writeFileSync(prompts, lines.join("\n") + "\n");
}, BUILD_TIMEOUT_MS);

afterAll(() => tiny?.cleanup());

function redrafter(...args: string[]) {
  const r = spawnSync(process.execPath, [join(repoRoot, "src", "cli", "main.ts"), ...args], { encoding: "utf8", timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const small = ["--limit", "20", "--holdout", "4", "--max-new-tokens", "16", "--draft-vocab", "128", "--epochs", "2", "--threads", "1"];

describe("redrafter distill / bench", () => {
  test("distill writes a drafter, a rerun reuses the teacher data, bench measures it", () => {
    const out = join(tiny.dir, "distilled.gguf");
    const cache = join(tiny.dir, "cache");
    const r = redrafter("distill", "--target", tiny.model, "--prompts", prompts, "--out", out, "--cache-dir", cache, ...small);
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(out)).toBe(true);
    expect(r.stderr).toMatch(/tau on 4 held-out prompts/);
    const again = redrafter("distill", "--target", tiny.model, "--prompts", prompts, "--out", out, "--cache-dir", cache, ...small);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/16 answers \(16 from the cache/);

    const b = redrafter("bench", "--model", tiny.model, "--drafter", out, "--prompts", prompts, "--limit", "2", "--max-tokens", "8",
      "--raw", "--threads", "1", "--flash-attn", "off", "--json");
    expect(b.code, b.stderr).toBe(0);
    const s = JSON.parse(b.stdout);
    for (const k of ["tau", "speedup", "tokens_per_s_ar", "tokens_per_s_spec", "dedup", "draft_share", "head_share"]) expect(s).toHaveProperty(k);
    expect(s.greedy_outputs_identical).toBe(1);
  });

  test("--score adds texts scored by prefill, without the held-out prompts; --save-holdout writes those", () => {
    const extra = join(tiny.dir, "extra.jsonl");
    const more = Array.from({ length: 5 }, (_, i) => JSON.stringify({ prompt: `A plain text to score, number ${i}.` }));
    writeFileSync(extra, [readFileSync(prompts, "utf8").trim(), ...more].join("\n") + "\n");
    const held = join(tiny.dir, "held.jsonl");
    const r = redrafter("distill", "--target", tiny.model, "--prompts", prompts, "--score", extra, "--save-holdout", held,
      "--max-positions", "300", "--out", join(tiny.dir, "scored.gguf"), "--cache-dir", join(tiny.dir, "cache-score"), ...small);
    expect(r.code, r.stderr).toBe(0);
    // 16 training prompts, then the extra file's texts that are neither training nor held-out
    // prompts: the 4 prompts --limit left out and the 5 new texts
    expect(r.stderr).toMatch(/score: 25 texts \(9 beside the prompts\)/);
    expect(r.stderr).toMatch(/score: 25 texts scored \(0 from the cache/);
    const heldOut = readFileSync(held, "utf8").trim().split("\n").map((l) => JSON.parse(l));
    expect(heldOut).toHaveLength(4);
    for (const p of heldOut) expect(p.prompt).toMatch(/^Story number \d+/);
  });

  test("--answer answers another file's new prompts into a teacher file of its own", () => {
    const extra = join(tiny.dir, "answer.jsonl");
    const more = Array.from({ length: 3 }, (_, i) => JSON.stringify({ prompt: `Another story, number ${i}: long ago` }));
    writeFileSync(extra, [readFileSync(prompts, "utf8").trim(), ...more].join("\n") + "\n");
    const cache = join(tiny.dir, "cache-answer");
    const args = ["--target", tiny.model, "--prompts", prompts, "--answer", extra, "--out", join(tiny.dir, "answered.gguf"), "--cache-dir", cache, ...small];
    const r = redrafter("distill", ...args);
    expect(r.code, r.stderr).toBe(0);
    // the 4 prompts --limit left out and the 3 new ones; the training and held-out prompts dropped
    expect(r.stderr).toMatch(/answers: 7 prompts of .*answer\.jsonl/);
    expect(r.stderr).toMatch(/teacher: 16 answers \(0 from the cache/);
    expect(r.stderr).toMatch(/teacher: 7 answers \(0 from the cache/);
    const again = redrafter("distill", ...args);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/teacher: 16 answers \(16 from the cache/);
    expect(again.stderr).toMatch(/teacher: 7 answers \(7 from the cache/);
  });

  test("user mistakes are one-line errors", () => {
    const bad = join(tiny.dir, "bad.jsonl");
    writeFileSync(bad, "{\"prompt\": \"ok\"}\nnot json\n");
    let r = redrafter("distill", "--target", tiny.model, "--prompts", bad, "--out", join(tiny.dir, "x.gguf"));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: .*bad\.jsonl:2: not a JSON object/);
    const empty = join(tiny.dir, "empty.jsonl");
    writeFileSync(empty, "\n");
    r = redrafter("distill", "--target", tiny.model, "--prompts", empty, "--out", join(tiny.dir, "x.gguf"));
    expect(r.stderr).toMatch(/holds no prompt/);
    r = redrafter("distill", "--target", tiny.model, "--prompts", prompts, "--out", "/proc/no/such/dir/x.gguf");
    expect(r.stderr).toMatch(/cannot write --out/);
    r = redrafter("distill", "--target", tiny.model, "--prompts", prompts, "--out", join(tiny.dir, "y.gguf"), "--draft-vocab", "100000");
    expect(r.stderr).toMatch(/larger than the target's vocabulary/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});
