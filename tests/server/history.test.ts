// history.test.ts - a request's output does not depend on what the server served before. The
// adaptive policy learns from every step, so a warm server draws other tree shapes than a fresh
// one; in the default (batch-invariant) mode that must not change a token. Three servers on the
// tiny model with a drafter and the context copy: fresh, warm (a dozen other requests first, greedy
// and seeded, streamed and cancelled), and plain decoding (--no-draft); greedy and seeded
// probes must give the same text on all three.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { repoRoot } from "../../src/ffi/symbols.ts";
import { makeTinyModel, type TinyModel } from "../helpers/tiny-model.ts";
import { post, startServer, type TestServer } from "./server.ts";

let tiny: TinyModel;
let fresh: TestServer, warm: TestServer, plain: TestServer;
const ARGS = ["--threads", "1", "--no-log-requests"];
const prompts: string[] = readFileSync(join(repoRoot, "tests", "fixtures", "prompts.jsonl"), "utf8")
  .split("\n").filter(Boolean).map((l) => JSON.parse(l).prompt as string);

beforeAll(async () => {
  tiny = makeTinyModel();
  [fresh, warm, plain] = await Promise.all([
    startServer(["--model", tiny.model, "--drafter", tiny.drafter, ...ARGS]),
    startServer(["--model", tiny.model, "--drafter", tiny.drafter, ...ARGS]),
    startServer(["--model", tiny.model, "--drafter", tiny.drafter, "--no-draft", ...ARGS]),
  ]);
}, 180_000);

afterAll(async () => {
  await Promise.all([fresh?.stop(), warm?.stop(), plain?.stop()]);
  tiny?.cleanup();
});

async function text(s: TestServer, prompt: string, sampling: object): Promise<string> {
  const r = await post(s.url, "/v1/completions", { prompt, max_tokens: 48, ...sampling });
  const j = await r.json();
  expect(r.status, JSON.stringify(j)).toBe(200);
  return j.choices[0].text;
}

it("fresh, warm and plain servers give the same text, greedy and seeded", async () => {
  // warm-up: other prompts, other samplers, a stream cut short
  for (const [i, p] of prompts.slice(8, 20).entries()) {
    await text(warm, p, i % 2 ? { temperature: 0 } : { temperature: 1, seed: i });
  }
  const ac = new AbortController();
  const r = await fetch(`${warm.url}/v1/completions`, {
    method: "POST", signal: ac.signal, headers: { "content-type": "application/json" },
    body: JSON.stringify({ prompt: prompts[0], max_tokens: 64, stream: true }),
  });
  await r.body!.getReader().read();
  ac.abort();

  for (const sampling of [{ temperature: 0 }, { temperature: 0.8, top_p: 0.95, seed: 42 }]) {
    for (const p of prompts.slice(0, 6)) {
      const [a, b, c] = [await text(fresh, p, sampling), await text(warm, p, sampling), await text(plain, p, sampling)];
      expect(b, `warm vs fresh, ${JSON.stringify(sampling)}, prompt ${JSON.stringify(p)}`).toBe(a);
      expect(a, `speculative vs plain, ${JSON.stringify(sampling)}, prompt ${JSON.stringify(p)}`).toBe(c);
    }
  }
}, 300_000);
