// completions-extras.test.ts - /v1/completions' echo (with the prompt's own log-probs, and
// max_tokens 0 to score a text) and suffix (fill-in-the-middle) on a real server: the tiny model,
// which has no FIM tokens, and Qwen2.5-Coder when its GGUF is cached here.
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeTinyModel, type TinyModel } from "../helpers/tiny-model.ts";
import { EXACT, post, startServer, type TestServer } from "./server.ts";

let tiny: TinyModel;
let server: TestServer;

beforeAll(async () => {
  tiny = makeTinyModel();
  server = await startServer(["--model", tiny.model, "--drafter", tiny.drafter, "--ctx-size", "256", ...EXACT]);
}, 120_000);

afterAll(async () => {
  await server?.stop();
  tiny?.cleanup();
});

const prompt = "Once upon a time";
const base = { prompt, temperature: 0, ignore_eos: true };

async function complete(body: object, s = server): Promise<any> {
  const r = await post(s.url, "/v1/completions", body);
  const json = await r.json();
  if (r.status !== 200) throw new Error(`${r.status}: ${JSON.stringify(json)}`);
  return json;
}

async function status(body: object): Promise<{ status: number; error: any }> {
  const r = await post(server.url, "/v1/completions", body);
  return { status: r.status, error: ((await r.json()) as any).error };
}

describe("echo", () => {
  it("prepends the prompt to each choice's text", async () => {
    const plain = await complete({ ...base, max_tokens: 6 });
    const echoed = await complete({ ...base, max_tokens: 6, echo: true, n: 2 });
    for (const ch of echoed.choices) expect(ch.text).toBe(prompt + plain.choices[0].text);
  });

  it("with logprobs: the prompt's tokens first, the first without a log-prob, then the completion's", async () => {
    const plain = await complete({ ...base, max_tokens: 6, logprobs: 2 });
    const echoed = await complete({ ...base, max_tokens: 6, logprobs: 2, echo: true });
    const lp = echoed.choices[0].logprobs;
    const own = plain.choices[0].logprobs;
    const n = lp.tokens.length - own.tokens.length; // prompt tokens (BOS included, rendered "")
    expect(n).toBe(echoed.usage.prompt_tokens);
    expect(lp.tokens.slice(0, n).join("").trimStart()).toBe(prompt); // llama's vocab adds a leading space
    expect(lp.token_logprobs[0]).toBeNull();
    expect(lp.top_logprobs[0]).toBeNull();
    for (let i = 1; i < n; i++) {
      expect(lp.token_logprobs[i]).toBeLessThanOrEqual(0);
      expect(Object.keys(lp.top_logprobs[i]).length).toBeGreaterThan(0);
    }
    expect(lp.tokens.slice(n)).toEqual(own.tokens);
    expect(lp.token_logprobs.slice(n)).toEqual(own.token_logprobs);
    expect(lp.text_offset[0]).toBe(0);
    expect(lp.text_offset.slice(n)).toEqual(own.text_offset.map((o: number) => o + prompt.length));
    expect([...lp.text_offset].sort((a: number, b: number) => a - b)).toEqual(lp.text_offset);
  });

  it("max_tokens 0 scores a text: the prompt and its log-probs only; scores match generation", async () => {
    const gen = await complete({ ...base, max_tokens: 5, logprobs: 1 });
    const text = gen.choices[0].text;
    const scored = await complete({ ...base, prompt: prompt + text, max_tokens: 0, logprobs: 1, echo: true });
    const ch = scored.choices[0];
    expect(ch.text).toBe(prompt + text);
    expect(ch.finish_reason).toBe("length");
    expect(scored.usage.completion_tokens).toBe(0);
    // when the text tokenizes back into the generated tokens, they score what generation reported
    const lp = ch.logprobs;
    const own = gen.choices[0].logprobs;
    const tail = lp.tokens.slice(-own.tokens.length);
    if (tail.join("") === own.tokens.join("") && tail.length === own.tokens.length) {
      lp.token_logprobs.slice(-own.tokens.length).forEach((l: number, i: number) => expect(l).toBeCloseTo(own.token_logprobs[i], 3));
    }
  });

  it("streamed: the echo and the prompt's log-probs ride on each choice's first chunk", async () => {
    const whole = await complete({ ...base, max_tokens: 6, logprobs: 1, echo: true, n: 2 });
    const r = await post(server.url, "/v1/completions", { ...base, max_tokens: 6, logprobs: 1, echo: true, n: 2, stream: true });
    const text = ["", ""];
    const tokens: string[][] = [[], []];
    for (const line of (await r.text()).split("\n")) {
      if (!line.startsWith("data: {")) continue;
      for (const ch of JSON.parse(line.slice(6)).choices) {
        text[ch.index] += ch.text;
        tokens[ch.index]!.push(...(ch.logprobs?.tokens ?? []));
      }
    }
    for (const i of [0, 1]) {
      expect(text[i]).toBe(whole.choices[i].text);
      expect(tokens[i]).toEqual(whole.choices[i].logprobs.tokens);
    }
  });

  it("refuses max_tokens 0 without echo, and a prompt beyond the context", async () => {
    expect(await status({ ...base, max_tokens: 0 })).toMatchObject({ status: 400, error: { param: "max_tokens" } });
    const long = Array.from({ length: 300 }, (_, i) => 1 + (i % 50));
    expect(await status({ prompt: long, max_tokens: 0, echo: true, logprobs: 1 })).toMatchObject({
      status: 400, error: { code: "context_length_exceeded" },
    });
  });
});

describe("suffix", () => {
  it("is a 400 naming suffix on a model without fill-in-the-middle tokens, and with echo", async () => {
    const r = await status({ ...base, max_tokens: 4, suffix: "return x" });
    expect(r).toMatchObject({ status: 400, error: { param: "suffix" } });
    expect(r.error.message).toMatch(/fill-in-the-middle/);
    expect(await status({ ...base, max_tokens: 4, suffix: "x", echo: true })).toMatchObject({ status: 400, error: { param: "suffix" } });
  });
});

const QWEN = [join(homedir(), ".cache", "redrafter", "models", "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"),
  "/tmp/rd-bi-models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"].find((p) => existsSync(p)) ?? null;

describe.skipIf(QWEN === null)("suffix on Qwen2.5-Coder (cached GGUF)", () => {
  let qwen: TestServer;
  beforeAll(async () => {
    qwen = await startServer(["--model", QWEN!, "--threads", "2", "--no-log-requests", "--no-drafter", "--ctx-size", "512", "--log-prompts"]);
  }, 300_000);
  afterAll(async () => {
    await qwen?.stop();
  });

  it("fills in the middle between prompt and suffix", async () => {
    const body = await complete({
      prompt: "def add(a, b):\n    ", suffix: "\n\nprint(add(2, 3))\n", max_tokens: 16, temperature: 0,
    }, qwen);
    expect(body.choices[0].text).toMatch(/return\s+a\s*\+\s*b/);
    // --log-prompts writes the prompt as a JSON string: PRE prompt SUF suffix MID
    expect(qwen.log()).toContain(String.raw`"<|fim_prefix|>def add(a, b):\n    <|fim_suffix|>\n\nprint(add(2, 3))\n<|fim_middle|>"`);
  }, 300_000);
});
