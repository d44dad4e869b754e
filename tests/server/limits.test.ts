// limits.test.ts - what a hostile client meets on a real server: response_format schemas past the
// nesting, size and grammar limits, and prompts past the byte limit, are 400s that name the
// setting, refused before the costly work (conversion, template, tokenizer); token-id prompts
// longer than the context are refused before anything else. A burst of the largest bodies
// (1 MiB) must leave /health answering: the test prints its latency, it asserts no timing.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeTinyModel, type TinyModel } from "../helpers/tiny-model.ts";
import { EXACT, post, startServer, type TestServer } from "./server.ts";

let tiny: TinyModel;
let server: TestServer; // default limits, 256-token context: 4096 bytes of prompt text
let tight: TestServer; // every limit set

const CTX = 256;
const PROMPT_BYTES = 16 * CTX;

beforeAll(async () => {
  tiny = makeTinyModel();
  [server, tight] = await Promise.all([
    startServer(["--model", tiny.model, "--ctx-size", String(CTX), ...EXACT]),
    startServer(["--model", tiny.model, "--ctx-size", String(CTX), "--max-prompt-bytes", "1000", "--max-schema-depth", "4",
      "--max-schema-bytes", "1024", "--max-grammar-bytes", "2048", ...EXACT]),
  ]);
}, 120_000);

afterAll(async () => {
  await Promise.all([server?.stop(), tight?.stop()]);
  tiny?.cleanup();
});

const messages = [{ role: "user", content: "hi" }];
const chat = (s: TestServer, body: object) => post(s.url, "/v1/chat/completions", { messages, max_tokens: 2, ...body });
const cmpl = (s: TestServer, body: object) => post(s.url, "/v1/completions", { max_tokens: 2, ...body });
const format = (schema: object) => ({ response_format: { type: "json_schema", json_schema: { name: "x", schema } } });

async function expectError(res: Promise<Response>, fields: { code: string; param: string }, mentions: string[]) {
  const r = await res;
  const body = await r.json();
  expect(r.status, JSON.stringify(body).slice(0, 500)).toBe(400);
  expect(body.error).toMatchObject({ type: "invalid_request_error", ...fields });
  for (const m of mentions) expect(body.error.message).toContain(m);
}

/** {"type":"string"} wrapped `levels` times in open ... close, as JSON text: the audit's schemas
 *  are too deep for JSON.stringify on a test thread's stack. */
const nested = (levels: number, open: string, close: string) => open.repeat(levels) + '{"type":"string"}' + close.repeat(levels);

/** body with a json_schema response_format given as JSON text. */
const withSchema = (body: object, schema: string) =>
  `${JSON.stringify(body).slice(0, -1)},"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":${schema}}}}`;

/** An object schema with optional keys p0, p1, ... filling about `bytes` of JSON. */
const wideSchema = (bytes: number) => ({ type: "object", properties: Object.fromEntries(Array.from({ length: Math.ceil(bytes / 10) }, (_, i) => [`p${i}`, {}])) });

describe("response_format limits", () => {
  it("the audit's schemas (9,200 nested anyOf, 10,000 nested items, 30,000 levels) are 400 schema_too_deep", async () => {
    const deep = { code: "schema_too_deep", param: "response_format" };
    const anyOf = (levels: number) => nested(levels, '{"anyOf":[', "]}");
    await expectError(post(server.url, "/v1/chat/completions", withSchema({ messages }, anyOf(9200))), deep, ["--max-schema-depth 64"]);
    await expectError(post(server.url, "/v1/chat/completions", withSchema({ messages }, nested(10_000, '{"type":"array","items":', "}"))), deep, ["--max-schema-depth 64"]);
    await expectError(post(server.url, "/v1/completions", withSchema({ prompt: "x" }, anyOf(30_000))), deep, ["--max-schema-depth 64"]);
    // the server (and its slot worker) lives on, and llama.cpp takes the grammar's forms for
    // optional keys (a shared rest rule) and arrays of alternatives (an item rule)
    const schema = { type: "object", properties: { a: { type: "integer" }, b: { enum: ["x", "y"] }, c: { type: "array", items: { enum: [1, 2] }, maxItems: 3 } } };
    const ok = await chat(server, { ...format(schema), max_tokens: 8 });
    expect(ok.status, await ok.clone().text()).toBe(200);
    expect((await ok.json()).choices[0].message.content).toMatch(/^\{/);
  }, 60_000);

  it("a schema over the size limit, or a grammar over its limit, is a 400 naming the setting", async () => {
    await expectError(chat(server, format({ type: "string", description: "x".repeat(70_000) })),
      { code: "schema_too_large", param: "response_format" }, ["65536 bytes", "--max-schema-bytes 65536"]);
    // 40 strings of up to 1999 characters: a 2 KB schema llama.cpp would expand into 80,000 rules
    const strings = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`s${i}`, { type: "string", maxLength: 1999 }]));
    await expectError(chat(server, format({ type: "object", properties: strings })),
      { code: "grammar_too_large", param: "response_format" }, ["--max-grammar-bytes 262144"]);
  });

  it("the limits are the server's settings", async () => {
    const param = "response_format";
    await expectError(post(tight.url, "/v1/chat/completions", withSchema({ messages }, nested(4, '{"items":', "}"))),
      { code: "schema_too_deep", param }, ["--max-schema-depth 4"]);
    await expectError(chat(tight, format(wideSchema(1500))), { code: "schema_too_large", param }, ["--max-schema-bytes 1024"]);
    await expectError(chat(tight, format(wideSchema(600))), { code: "grammar_too_large", param }, ["--max-grammar-bytes 2048"]);
    await expectError(chat(tight, { messages: [{ role: "user", content: "x".repeat(1000) }] }),
      { code: "context_length_exceeded", param: "messages" }, ["--max-prompt-bytes 1000"]);
    expect((await chat(tight, { messages: [{ role: "user", content: "x".repeat(100) }] })).status).toBe(200);
  });
});

describe("prompt limits", () => {
  const tooLarge = (param: string) => ({ code: "context_length_exceeded", param });
  const mentions = [`${PROMPT_BYTES} bytes`, "--max-prompt-bytes 0"];

  it("chat: the messages' text in UTF-8 bytes, before the template and after it", async () => {
    await expectError(chat(server, { messages: [{ role: "user", content: "x".repeat(PROMPT_BYTES) }] }), tooLarge("messages"), mentions);
    // 2,100 characters, 4,200 bytes
    await expectError(chat(server, { messages: [{ role: "user", content: "é".repeat(2100) }] }), tooLarge("messages"), mentions);
    // empty messages count their role and 8 bytes of turn markers: over the limit before the
    // template runs
    await expectError(chat(server, { messages: Array(350).fill({ role: "user", content: "" }) }), tooLarge("messages"), mentions);
    // 300 pass that count (3,600 bytes); rendered with the tiny model's markers (17 bytes a turn)
    // they do not
    await expectError(chat(server, { messages: Array(300).fill({ role: "user", content: "" }) }), tooLarge("messages"), mentions);
  });

  it("completions: each text prompt in bytes; token ids counted against the context first", async () => {
    const big = "x".repeat(PROMPT_BYTES + 1);
    await expectError(cmpl(server, { prompt: big }), tooLarge("prompt"), mentions);
    await expectError(cmpl(server, { prompt: ["hi", big] }), tooLarge("prompt[1]"), mentions);
    // a token-id prompt as long as the context: refused for its length, before its ids are read
    const ids = Array.from({ length: CTX }, (_, i) => (i === CTX - 1 ? 999_999 : 1));
    await expectError(cmpl(server, { prompt: ids }), tooLarge("prompt"), [`maximum context length is ${CTX} tokens`]);
    await expectError(cmpl(server, { prompt: [[1, 2], ids] }), tooLarge("prompt[1]"), []);
    await expectError(cmpl(server, { prompt: [1, 999_999] }), { code: "invalid_value", param: "prompt" }, ["out of the vocabulary"]);
    expect((await cmpl(server, { prompt: ["hi", "x".repeat(100)] })).status).toBe(200);
  });
});

describe("a burst of the largest bodies", () => {
  it("/health answers while 24 bodies of 1 MiB arrive at once (latency printed, not asserted)", async () => {
    const limit = 1024 * 1024 - 512; // under --max-body (1 MiB), JSON framing included
    const fill = (body: (pad: string) => object) => JSON.stringify(body("x".repeat(limit - JSON.stringify(body("")).length)));
    const prompt = fill((pad) => ({ messages: [{ role: "user", content: pad }] }));
    // "k000000":{}, is 13 bytes
    const keys = Array.from({ length: Math.floor((limit - 300) / 13) }, (_, i) => [`k${String(i).padStart(6, "0")}`, {}]);
    const schema = JSON.stringify({ messages, ...format({ type: "object", properties: Object.fromEntries(keys) }) });
    // 255 prompts at the byte limit: each is tokenized (until one overflows the context)
    const prompts = JSON.stringify({ prompt: Array(Math.floor(limit / (PROMPT_BYTES + 4))).fill("x ".repeat(PROMPT_BYTES / 2)), max_tokens: 2 });
    const bodies = [
      ...Array(8).fill(["/v1/chat/completions", prompt, "context_length_exceeded"]),
      ...Array(8).fill(["/v1/chat/completions", schema, "schema_too_large"]),
      ...Array(8).fill(["/v1/completions", prompts, "context_length_exceeded"]),
    ] as [string, string, string][];
    for (const [, b] of bodies) expect(b.length).toBeLessThanOrEqual(limit);

    let done = false;
    const health: number[] = [];
    const poll = (async () => {
      while (!done) {
        const t0 = performance.now();
        const r = await fetch(`${server.url}/health`);
        expect(r.status).toBe(200);
        await r.arrayBuffer();
        health.push(performance.now() - t0);
        await new Promise((res) => setTimeout(res, 10));
      }
    })();
    const t0 = performance.now();
    const answers = await Promise.all(bodies.map(async ([path, body, code]) => {
      const r = await post(server.url, path, body);
      return [r.status, (await r.json()).error?.code, code];
    }));
    const burstMs = performance.now() - t0;
    done = true;
    await poll;
    for (const [status, got, want] of answers) expect([status, got]).toEqual([400, want]);
    expect(health.length).toBeGreaterThan(0);
    const sorted = [...health].sort((a, b) => a - b);
    console.log(`[limits] 24 bodies of 1 MiB answered in ${burstMs.toFixed(0)} ms; /health during the burst: n=${health.length} ` +
      `p50 ${sorted[Math.floor(sorted.length / 2)]!.toFixed(1)} ms, max ${sorted.at(-1)!.toFixed(1)} ms`);
  }, 120_000);
});
