// serve-cli.test.ts - `redrafter serve` as a user starts it: --help, settings errors that name
// the setting, missing files, an unreachable hf: reference, the startup log saying whether it
// drafts, and a clean exit on SIGTERM.
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { repoRoot } from "../../src/ffi/symbols.ts";
import { makeTinyModel, type TinyModel } from "../helpers/tiny-model.ts";
import { EXACT, startServer } from "./server.ts";

let tiny: TinyModel;
beforeAll(() => {
  tiny = makeTinyModel();
});
afterAll(() => tiny?.cleanup());

function serve(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [join(repoRoot, "src", "cli", "main.ts"), "serve", ...args], {
    encoding: "utf8", timeout: 60_000, env: { ...process.env, ...env },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("redrafter serve", () => {
  it("--help lists every setting with its env var", () => {
    const r = serve(["--help"]);
    expect(r.code).toBe(0);
    for (const s of ["--model", "--drafter", "--port", "--ctx-size", "--beam-width", "--api-key", "--[no-]draft", "REDRAFTER_PORT", "--config FILE"]) {
      expect(r.stdout).toContain(s);
    }
  });

  it("fails with one line naming a bad setting and its source", () => {
    const r = serve(["--model", tiny.model], { REDRAFTER_SLOTS: "many" });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: invalid slots "many" \(from env REDRAFTER_SLOTS\)/);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });

  it("fails clearly on missing files and unreachable Hugging Face", () => {
    expect(serve(["--model", "/nonexistent/m.gguf"]).stderr).toMatch(/error: model file not found: \/nonexistent\/m\.gguf/);
    expect(serve(["--model", tiny.model, "--drafter", "/nonexistent/d.gguf"]).stderr).toMatch(/error: drafter file not found/);
    const hf = serve(["--model", "hf:someone/some-repo/model.gguf"]);
    expect(hf.code).toBe(1);
    expect(hf.stderr).toMatch(/could not fetch hf:someone\/some-repo\/model\.gguf: .*pass its path with --model/);
  }, 60_000);

  it("says in the startup log whether it drafts, and exits 0 on SIGTERM", async () => {
    const plain = await startServer(["--model", tiny.model, ...EXACT]);
    expect(plain.log()).toContain("serving without speculative decoding");
    expect(await plain.stop("SIGTERM")).toBe(0);
    const spec = await startServer(["--model", tiny.model, "--drafter", tiny.drafter, ...EXACT]);
    expect(spec.log()).toMatch(/ready: .*ReDrafter 4x4/);
    expect(await spec.stop("SIGINT")).toBe(0);
    const off = await startServer(["--model", tiny.model, "--drafter", tiny.drafter, "--no-draft", ...EXACT]);
    expect(off.log()).toContain("speculative decoding off (--no-draft)");
    await off.stop();
  }, 60_000);
});
