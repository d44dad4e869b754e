// gemma-server.test.ts - the gateway on a real model: `redrafter serve --model gemma-3-270m`
// serves Gemma 3 270M Q4_K_M (fetched into the model cache on first use) and, when it is shipped,
// its drafter. Through the official SDK: a streamed and a whole chat give the same text, with
// speculation on (it drafts) and off. Equality of speculative and plain text on this Q4_K model
// is the subject of gemma-exact.test.ts: llama.cpp's batched and one-token kernels differ by up
// to ~0.1 nats here, so the two may part at a near-tie; that test shows each such divergence.
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resolveModel } from "../../src/models/resolve.ts";
import { EXACT, startServer, type TestServer } from "../server/server.ts";

let server: TestServer;
let client: OpenAI;
const MODEL = "gemma-3-270m-q4_k_m";
const messages = [{ role: "user" as const, content: "List three colours of the rainbow." }];

beforeAll(async () => {
  await resolveModel(MODEL, () => {}); // a first fetch outlasts startServer's wait
  server = await startServer(["--model", "gemma-3-270m", ...EXACT]);
  client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "unused" });
}, 600_000);

afterAll(async () => {
  await server?.stop();
});

describe("Gemma 3 270M through the gateway", () => {
  it("serves Gemma under its catalog name", async () => {
    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toContain(MODEL);
  });

  it("streams the same text it returns whole, with speculation on and off", async () => {
    for (const draft of [true, false]) {
      const extra = { redrafter: { draft } };
      const whole = await client.chat.completions.create({ model: MODEL, messages, max_tokens: 32, temperature: 0, ...extra });
      const text = whole.choices[0]!.message.content ?? "";
      expect(text.length).toBeGreaterThan(0);
      const stats = (whole as unknown as { redrafter: { drafted_tokens: number; target_calls: number } }).redrafter;
      if (draft) expect(stats.drafted_tokens).toBeGreaterThan(0);
      else expect(stats.drafted_tokens).toBe(0);

      let streamed = "";
      const stream = await client.chat.completions.create({ model: MODEL, messages, max_tokens: 32, temperature: 0, stream: true, ...extra });
      for await (const chunk of stream) streamed += chunk.choices[0]?.delta.content ?? "";
      expect(streamed).toBe(text);
    }
  }, 300_000);
});
