// errors.test.ts - every error class the gateway answers with, on real servers: the status,
// and {"error": {"message", "type", "param", "code"}} naming what to fix. Also request ids,
// CORS, aliases, /metrics, 503 while loading and an error in the middle of a stream.
import { createParser } from "eventsource-parser";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { defaultConfig } from "../../src/config.ts";
import { createApp } from "../../src/app.ts";
import { EnginePool } from "../../src/engine/pool.ts";
import { ServerState } from "../../src/server/state.ts";
import { makeTinyModel, type TinyModel } from "../helpers/tiny-model.ts";
import { EXACT, eventually, post, startServer, type TestServer } from "./server.ts";

let tiny: TinyModel;
let server: TestServer; // small context and body limit, one CORS origin
let keyed: TestServer; // --api-key

beforeAll(async () => {
  tiny = makeTinyModel();
  [server, keyed] = await Promise.all([
    startServer(["--model", tiny.model, "--ctx-size", "128", "--max-body", "4KiB", "--alias", "my-alias", "--cors-origin", "http://example.test", ...EXACT]),
    startServer(["--model", tiny.model, "--api-key", "sesame", ...EXACT]),
  ]);
}, 120_000);

afterAll(async () => {
  await Promise.all([server?.stop(), keyed?.stop()]);
  tiny?.cleanup();
});

const messages = [{ role: "user", content: "hi" }];

async function expectError(res: Response | Promise<Response>, status: number, fields: { code?: string | null; param?: string | null; type?: string }) {
  const r = await res;
  const body = await r.json();
  expect(r.status, JSON.stringify(body)).toBe(status);
  expect(Object.keys(body)).toEqual(["error"]);
  expect(Object.keys(body.error).sort()).toEqual(["code", "message", "param", "type"]);
  expect(body.error.message.length).toBeGreaterThan(0);
  expect(body.error).toMatchObject(fields);
  return body.error as { message: string };
}

describe("400 invalid requests", () => {
  const chat = (body: unknown) => post(server.url, "/v1/chat/completions", body);

  it("malformed JSON", async () => {
    await expectError(chat("{not json"), 400, { code: "invalid_json", type: "invalid_request_error" });
    await expectError(chat("[1,2]"), 400, { code: "invalid_json" });
  });

  it("missing and invalid fields name their param", async () => {
    await expectError(chat({}), 400, { param: "messages", code: "missing_required_parameter" });
    await expectError(chat({ messages: [] }), 400, { param: "messages" });
    await expectError(chat({ messages: [{ role: "robot", content: "x" }] }), 400, { param: "messages[0].role" });
    await expectError(chat({ messages, temperature: 2.5 }), 400, { param: "temperature" });
    await expectError(chat({ messages, top_p: -1 }), 400, { param: "top_p" });
    await expectError(chat({ messages, presence_penalty: 3 }), 400, { param: "presence_penalty" });
    const maxN = await expectError(chat({ messages, n: 17 }), 400, { param: "n" });
    expect(maxN.message).toMatch(/--max-n/);
    await expectError(chat({ messages, stop: ["a", "b", "c", "d", "e"] }), 400, { param: "stop" });
    await expectError(chat({ messages, max_tokens: 0 }), 400, { param: "max_tokens" });
    await expectError(chat({ messages, top_logprobs: 2 }), 400, { param: "top_logprobs" });
    await expectError(chat({ messages, logit_bias: { abc: 1 } }), 400, { param: "logit_bias.abc" });
    await expectError(chat({ messages, logit_bias: { "5": 101 } }), 400, { param: "logit_bias.5" });
    await expectError(chat({ messages, logit_bias: { "100000": 1 } }), 400, { param: "logit_bias" });
    await expectError(chat({ messages, tools: [{ type: "function" }] }), 400, { param: "tools[0].function" });
    await expectError(chat({ messages, response_format: { type: "xml" } }), 400, { param: "response_format.type" });
    await expectError(
      chat({ messages, response_format: { type: "json_schema", json_schema: { name: "x", schema: { not: { type: "string" } } } } }),
      400, { param: "response_format.json_schema.schema" },
    );
  });

  it("legacy completions: suffix, best_of, bad token ids", async () => {
    const cmpl = (body: unknown) => post(server.url, "/v1/completions", body);
    const e = await expectError(cmpl({ prompt: "a", suffix: "b" }), 400, { param: "suffix" });
    expect(e.message).toMatch(/suffix/);
    await expectError(cmpl({ prompt: "a", best_of: 3 }), 400, { param: "best_of" });
    await expectError(cmpl({ prompt: [1, 99999] }), 400, { param: "prompt" });
    await expectError(cmpl({}), 400, { param: "prompt" });
  });

  it("context_length_exceeded: prompt alone too long, or prompt + max_tokens", async () => {
    const long = [{ role: "user", content: "word ".repeat(600) }];
    await expectError(chat({ messages: long }), 400, { code: "context_length_exceeded", param: "messages" });
    await expectError(chat({ messages, max_tokens: 1000 }), 400, { code: "context_length_exceeded", param: "max_tokens" });
    // without max_tokens the completion may fill the context and stops with "length"
    const ok = await (await chat({ messages, ignore_eos: true, temperature: 0 })).json();
    expect(ok.choices[0].finish_reason).toBe("length");
    // llama.cpp rounds the context up (to 256 cells): the served size is what /v1/models says
    const nCtx = (await (await fetch(`${server.url}/v1/models`)).json()).data[0].meta.n_ctx;
    expect(nCtx).toBeGreaterThanOrEqual(128);
    expect(ok.usage.total_tokens).toBe(nCtx);
  }, 60_000);
});

describe("other statuses", () => {
  it("404 unknown model (model_not_found) and unknown route; aliases work", async () => {
    await expectError(post(server.url, "/v1/chat/completions", { model: "gpt-9", messages }), 404, { code: "model_not_found", param: "model" });
    await expectError(fetch(`${server.url}/v1/models/gpt-9`), 404, { code: "model_not_found" });
    await expectError(fetch(`${server.url}/v1/nothing`), 404, { code: "unknown_url" });
    const alias = await (await post(server.url, "/v1/chat/completions", { model: "my-alias", messages, max_tokens: 2 })).json();
    expect(alias.model).toBe("my-alias");
    const list = await (await fetch(`${server.url}/v1/models`)).json();
    expect(list.object).toBe("list");
    expect(list.data.map((m: { id: string }) => m.id)).toEqual(["tiny-model", "my-alias"]);
    expect((await (await fetch(`${server.url}/v1/models/tiny-model`)).json()).id).toBe("tiny-model");
  });

  it("405 wrong method, with Allow", async () => {
    const r = await fetch(`${server.url}/v1/chat/completions`);
    expect(r.headers.get("allow")).toContain("POST");
    await expectError(r, 405, { code: "method_not_allowed" });
  });

  it("413 body too large", async () => {
    await expectError(post(server.url, "/v1/chat/completions", { messages: [{ role: "user", content: "x".repeat(8000) }] }), 413, {
      code: "request_too_large",
    });
  });

  it("429 when every slot is busy and the queue is full", async () => {
    // its own server: one slot and no queue
    const busy = await startServer(["--model", tiny.model, "--slots", "1", "--queue-size", "0", ...EXACT]);
    try {
      const ac = new AbortController();
      const long = fetch(`${busy.url}/v1/completions`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ prompt: "a", ignore_eos: true, stream: true }),
        signal: ac.signal,
      });
      long.catch(() => {});
      await (await long).body!.getReader().read();
      const full = await post(busy.url, "/v1/completions", { prompt: "b", max_tokens: 2 });
      expect(full.headers.get("retry-after")).toBe("1");
      const e = await expectError(full, 429, { code: "queue_full", type: "rate_limit_error" });
      expect(e.message).toBe("The server is busy (0 requests are already waiting for a slot), retry shortly");
      ac.abort();
      await eventually(async () => (await post(busy.url, "/v1/completions", { prompt: "b", max_tokens: 2 })).status === 200);
      // a finished answer means a free slot: back-to-back requests never see 429, whether they
      // ended by length or were cut by a stop string
      const base = { prompt: "c", max_tokens: 6, temperature: 0, ignore_eos: true };
      const text: string = (await (await post(busy.url, "/v1/completions", base)).json()).choices[0].text;
      for (let i = 0; i < 10; i++) {
        const r = await post(busy.url, "/v1/completions", i % 2 ? base : { ...base, stop: text.slice(1, 3) });
        expect(r.status).toBe(200);
        if (i % 2 === 0) expect((await r.json()).choices[0].finish_reason).toBe("stop");
      }
    } finally {
      await busy.stop();
    }
  }, 60_000);

  it("401 without or with a wrong API key; health stays open", async () => {
    await expectError(post(keyed.url, "/v1/chat/completions", { messages }), 401, { code: "invalid_api_key" });
    await expectError(post(keyed.url, "/v1/chat/completions", { messages }, { Authorization: "Bearer nope" }), 401, { code: "invalid_api_key" });
    await expectError(fetch(`${keyed.url}/v1/models`), 401, { code: "invalid_api_key" });
    const ok = await post(keyed.url, "/v1/chat/completions", { messages, max_tokens: 2 }, { Authorization: "Bearer sesame" });
    expect(ok.status).toBe(200);
    expect((await fetch(`${keyed.url}/health`)).status).toBe(200);
  });

  it("503 while the model loads", async () => {
    const pool = new EnginePool([{ id: "tiny-model", aliases: [], drafter: null, estimate: async () => 0, load: () => new Promise(() => {}) }], 1 << 30, () => {});
    void pool.start(); // never ends
    const app = createApp(new ServerState({ ...defaultConfig, logRequests: false }, pool));
    for (const [method, path] of [["GET", "/health"], ["GET", "/v1/models"], ["POST", "/v1/chat/completions"]] as const) {
      const r = await app.request(path, {
        method,
        headers: { "Content-Type": "application/json" },
        body: method === "POST" ? JSON.stringify({ messages }) : undefined,
      });
      await expectError(r, 503, { code: "model_loading", type: "server_error" });
    }
  });
});

describe("request ids, CORS, metrics", () => {
  it("echoes x-request-id and uses it in the completion id; generates one otherwise", async () => {
    const r = await post(server.url, "/v1/chat/completions", { messages, max_tokens: 2 }, { "X-Request-Id": "req-abc123" });
    expect(r.headers.get("x-request-id")).toBe("req-abc123");
    expect((await r.json()).id).toBe("chatcmpl-req-abc123");
    const g = await post(server.url, "/v1/completions", { prompt: "x", max_tokens: 1 });
    const id = g.headers.get("x-request-id")!;
    expect(id).toMatch(/^[\w-]{8,}$/);
    expect((await g.json()).id).toBe(`cmpl-${id}`);
  });

  it("answers CORS preflight from a --cors-origin and exposes the request id", async () => {
    const r = await fetch(`${server.url}/v1/chat/completions`, {
      method: "OPTIONS",
      headers: { Origin: "http://example.test", "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type" },
    });
    expect(r.status).toBeLessThan(300);
    expect(r.headers.get("access-control-allow-origin")).toBe("http://example.test");
    expect(r.headers.get("access-control-allow-methods")).toContain("POST");
    const g = await fetch(`${server.url}/health`, { headers: { Origin: "http://example.test" } });
    expect(g.headers.get("access-control-expose-headers")).toMatch(/x-request-id/i);
  });

  it("/metrics exposes requests, tokens, speculation, queue and latency histograms", async () => {
    await post(server.url, "/v1/chat/completions", { messages, max_tokens: 3 });
    const r = await fetch(`${server.url}/metrics`);
    expect(r.headers.get("content-type")).toMatch(/^text\/plain/);
    const text = await r.text();
    for (const name of [
      'redrafter_requests_total{endpoint="/v1/chat/completions",status="200"}',
      'redrafter_requests_total{endpoint="unmatched",status="404"}',
      "redrafter_completion_tokens_total", "redrafter_tau", "redrafter_tree_dedup", "redrafter_drafted_tokens_total",
      "redrafter_accepted_tokens_total", 'redrafter_step_seconds_total{phase="verify"}', "redrafter_queue_depth",
      'redrafter_ttft_seconds_bucket{le="+Inf"}', "redrafter_inter_token_latency_seconds_count",
    ]) expect(text).toContain(name);
    expect(Number(/^redrafter_completion_tokens_total (\d+)$/m.exec(text)![1])).toBeGreaterThan(0);
  });
});

describe("an error in the middle of a stream", () => {
  it("is sent as a data: {error} event, then the stream ends without [DONE]", async () => {
    const s = await startServer(["--model", tiny.model, "--slots", "1", "--queue-size", "1", ...EXACT]);
    try {
      // choice 0 runs, choice 1 waits in the queue; shutting down fails the queued one
      const res = await post(s.url, "/v1/chat/completions", { messages, n: 2, ignore_eos: true, max_tokens: 100, stream: true });
      const reader = res.body!.getReader();
      const events: string[] = [];
      const parser = createParser({ onEvent: (e) => events.push(e.data) });
      const first = await reader.read();
      parser.feed(new TextDecoder().decode(first.value));
      await s.stop("SIGTERM");
      for (let r = await reader.read(); !r.done; r = await reader.read()) parser.feed(new TextDecoder().decode(r.value));
      const last = JSON.parse(events.at(-1)!);
      expect(Object.keys(last)).toEqual(["error"]);
      expect(last.error).toMatchObject({ type: "server_error" });
      expect(events).not.toContain("[DONE]");
    } finally {
      await s.stop();
    }
  }, 60_000);
});

describe("fromEngine", () => {
  it("a refusal by the queue's expected wait is a 429 whose Retry-After is the engine's estimate", async () => {
    const { fromEngine } = await import("../../src/server/errors.ts");
    const { QueueFullError } = await import("../../src/engine/errors.ts");
    const e = fromEngine(new QueueFullError(16, "the prompts ahead need about 90.0 s of prefill, over the 60.0 s a request may wait", 30));
    expect(e?.status).toBe(429);
    expect(e?.headers["Retry-After"]).toBe("30");
    expect(e?.message).toContain("90.0 s of prefill");
    expect(fromEngine(new QueueFullError(16))?.headers["Retry-After"]).toBe("1");
  });
});
