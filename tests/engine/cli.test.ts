// cli.test.ts - the `redrafter` command as a user runs it (spawned with Bun): `drafter init`,
// `generate --json` with the documented fields, streamed text, and user errors without stacks.
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { repoRoot } from "../../src/ffi/symbols.ts";
import { BUILD_TIMEOUT_MS, makeTinyModel, type TinyModel } from "../helpers/tiny-model.ts";

let tiny: TinyModel;

beforeAll(() => {
  tiny = makeTinyModel();
}, BUILD_TIMEOUT_MS);

afterAll(() => tiny?.cleanup());

function redrafter(...args: string[]) {
  const r = spawnSync(process.execPath, [join(repoRoot, "src", "cli", "main.ts"), ...args], { encoding: "utf8", timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const fast = ["--threads", "1", "--flash-attn", "off", "--kv-f32"];

describe("redrafter CLI", () => {
  test("drafter init writes a drafter that generate accepts", () => {
    const out = join(tiny.dir, "init.gguf");
    const r = redrafter("drafter", "init", "--target", tiny.model, "--out", out, "--layers", "2", "--seed", "3");
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(out);
    const g = redrafter("generate", "--model", tiny.model, "--drafter", out, "--prompt", "hi", "--max-tokens", "4", "--json", ...fast);
    expect(g.code).toBe(0);
    expect(JSON.parse(g.stdout).n_generated).toBeGreaterThan(0);
  });

  test("generate --json prints one record per prompt with the documented fields", () => {
    const prompts = join(tiny.dir, "prompts.jsonl");
    writeFileSync(prompts, ["Once upon a time", "The quick brown fox", "unused"].map((p, i) => JSON.stringify({ id: `p${i}`, prompt: p })).join("\n"));
    const r = redrafter(
      "generate", "--model", tiny.model, "--drafter", tiny.drafter, "--prompts", prompts, "--limit", "2",
      // fixed length: every step drafts, so dedup is a number (null without speculative steps)
      "--max-tokens", "12", "--beam-width", "3", "--beam-length", "2", "--fixed-length", "--json", ...fast,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe(""); // llama.cpp logging stays quiet, in the workers too
    const lines = r.stdout.trim().split("\n").map((l) => JSON.parse(l));
    expect(lines.map((l) => l.id)).toEqual(["p0", "p1"]);
    for (const rec of lines) {
      expect(Object.keys(rec)).toEqual(expect.arrayContaining([
        "id", "tokens", "text", "n_prompt", "n_generated", "target_calls", "tau", "tokens_per_s", "ttft_ms", "dedup",
        "head_share", "time", "finish_reason",
      ]));
      expect(Object.keys(rec.time).sort()).toEqual(["draft_ms", "other_ms", "prefill_ms", "verify_ms"]);
      expect(rec.tokens).toHaveLength(rec.n_generated);
      expect(rec.n_generated).toBeLessThanOrEqual(12);
      expect(rec.n_prompt).toBeGreaterThan(1);
      expect(rec.tau).toBeCloseTo(rec.n_generated / rec.target_calls, 6);
      expect(rec.tokens_per_s).toBeGreaterThan(0);
      expect(rec.ttft_ms).toBeGreaterThan(0);
      expect(rec.dedup).toBeGreaterThanOrEqual(0);
      expect(rec.dedup).toBeLessThan(1);
      // the LM head on demand ran for the nodes the walk reached, not the whole tree
      expect(rec.head_share).toBeGreaterThan(0);
      expect(rec.head_share).toBeLessThan(1);
      expect(["stop", "length"]).toContain(rec.finish_reason);
    }
    // --full-head: llama.cpp's head on every node, the same tokens
    const full = redrafter(
      "generate", "--model", tiny.model, "--drafter", tiny.drafter, "--prompts", prompts, "--limit", "2",
      "--max-tokens", "12", "--beam-width", "3", "--beam-length", "2", "--fixed-length", "--full-head", "--json", ...fast,
    );
    const fullLines = full.stdout.trim().split("\n").map((l) => JSON.parse(l));
    expect(fullLines.map((l) => l.tokens)).toEqual(lines.map((l) => l.tokens));
    for (const rec of fullLines) expect(rec.head_share).toBe(1);
    // --no-draft gives the same tokens (greedy)
    const plain = redrafter(
      "generate", "--model", tiny.model, "--drafter", tiny.drafter, "--prompts", prompts, "--limit", "2",
      "--max-tokens", "12", "--no-draft", "--json", ...fast,
    );
    const plainLines = plain.stdout.trim().split("\n").map((l) => JSON.parse(l));
    expect(plainLines.map((l) => l.tokens)).toEqual(lines.map((l) => l.tokens));
    for (const rec of plainLines) {
      expect(rec.dedup).toBeNull();
      // plain decoding: one call per token (the prefill's is the first), tau = 1; a stripped
      // EOS cost a call too
      expect(rec.target_calls).toBe(rec.n_generated + (rec.finish_reason === "stop" ? 1 : 0));
    }
  });

  test("the context copy drafts without a drafter and changes no token; --lookup 0 turns it off", () => {
    const prompt = "one two three one two three one two three one two three one two";
    const gen = (...extra: string[]) => {
      const r = redrafter("generate", "--model", tiny.model, "--prompt", prompt, "--max-tokens", "24", "--json", ...fast, ...extra);
      expect(r.code, r.stderr).toBe(0);
      return JSON.parse(r.stdout);
    };
    const plain = gen("--no-draft");
    const copy = gen("--no-drafter", "--fixed-length"); // fixed: every step verifies the whole copy
    expect(copy.tokens).toEqual(plain.tokens);
    expect(copy.speculative).toBe(true);
    expect(copy.n_drafted).toBeGreaterThan(0); // the prompt repeats: there is always a match
    expect(copy.n_copy_accepted).toBe(copy.n_accepted); // no drafter: every accepted token was copied
    const off = gen("--no-drafter", "--lookup", "0");
    expect(off.tokens).toEqual(plain.tokens);
    expect(off.speculative).toBe(false);
    expect(off.n_drafted).toBe(0);
    const both = gen("--drafter", tiny.drafter, "--fixed-length");
    expect(both.tokens).toEqual(plain.tokens);
    expect(both.n_copy_accepted).toBeLessThanOrEqual(both.n_accepted);
    const bad = redrafter("generate", "--model", tiny.model, "--prompt", "x", "--lookup", "17");
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^error: --lookup must be <= 16/);
  });

  test("without --json the text streams to stdout and a stats line goes to stderr", () => {
    const r = redrafter("generate", "--model", tiny.model, "--prompt", "Hello", "--max-tokens", "8", "--chat", ...fast);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.length).toBeGreaterThan(0);
    expect(r.stderr).toMatch(/n_prompt=\d+ n_generated=\d+ .*tau=[\d.]+ .*finish=(stop|length)/);
  });

  test("user errors print `error: ...` and exit 1 without a stack trace", () => {
    const missing = redrafter("generate", "--model", join(tiny.dir, "nope.gguf"), "--prompt", "x");
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^error: .*nope\.gguf/);
    expect(missing.stderr).not.toMatch(/\n\s+at /);
    const flag = redrafter("generate", "--model", tiny.model, "--prompt", "x", "--max-tokens", "-3");
    expect(flag.code).toBe(1);
    expect(flag.stderr).toBe("error: --max-tokens must be >= 1, got -3\n");
    const bench = redrafter("bench");
    expect(bench.code).toBe(1);
    expect(bench.stderr).toMatch(/^error: --model is required/);
    expect(redrafter("frobnicate").code).toBe(1);
    expect(redrafter("generate", "--help").stdout).toContain("--beam-width");
  });
});
