// generation.test.ts - request fields that steer generation, end to end on the tiny model:
// response_format grammars give parseable JSON, logit_bias bans and forces tokens, token limits,
// the sampler extensions, and the message forms OpenAI clients send.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeTinyModel, type TinyModel } from "../helpers/tiny-model.ts";
import { EXACT, post, startServer, type TestServer } from "./server.ts";

let tiny: TinyModel;
let server: TestServer;

beforeAll(async () => {
  tiny = makeTinyModel();
  server = await startServer(["--model", tiny.model, "--drafter", tiny.drafter, ...EXACT]);
}, 120_000);

afterAll(async () => {
  await server?.stop();
  tiny?.cleanup();
});

const messages = [{ role: "user", content: "Answer in JSON." }];

async function chat(body: object) {
  const r = await post(server.url, "/v1/chat/completions", { messages, ...body });
  const json = await r.json();
  expect(r.status, JSON.stringify(json)).toBe(200);
  return json;
}

describe("response_format", () => {
  it("json_object: every output that ends is a JSON object", async () => {
    // a random model may wander inside a string until max_tokens; what the grammar guarantees is
    // that it can only stop once the object is complete
    const ends: unknown[] = [];
    for (const seed of [1, 2, 3, 4, 5, 6]) {
      const r = await chat({ max_tokens: 300, temperature: 1, seed, response_format: { type: "json_object" } });
      const text: string = r.choices[0].message.content;
      expect(text.startsWith("{")).toBe(true);
      if (r.choices[0].finish_reason === "stop") ends.push(JSON.parse(text));
    }
    expect(ends.length).toBeGreaterThanOrEqual(3);
    for (const v of ends) expect(typeof v === "object" && v !== null && !Array.isArray(v)).toBe(true);
  }, 60_000);

  it("json_schema: the output parses and has the schema's shape, with and without speculation", async () => {
    const schema = {
      type: "object",
      properties: {
        ok: { type: "boolean" },
        level: { enum: ["low", "high"] },
        tags: { type: "array", items: { type: "string", maxLength: 4 }, maxItems: 2 },
        note: { type: ["null", "integer"] },
      },
      required: ["ok", "level", "tags", "note"],
    };
    for (const draft of [true, false]) {
      const r = await chat({
        max_tokens: 200, temperature: 0.7, seed: 5, redrafter: { draft },
        response_format: { type: "json_schema", json_schema: { name: "answer", schema, strict: true } },
      });
      const value = JSON.parse(r.choices[0].message.content);
      expect(Object.keys(value)).toEqual(["ok", "level", "tags", "note"]);
      expect(typeof value.ok).toBe("boolean");
      expect(["low", "high"]).toContain(value.level);
      expect(value.tags.length).toBeLessThanOrEqual(2);
      for (const t of value.tags) expect([...t].length).toBeLessThanOrEqual(4);
      expect(value.note === null || Number.isInteger(value.note)).toBe(true);
    }
  });
});

describe("sampling fields", () => {
  it("logit_bias +100 forces a token and -100 bans tokens", async () => {
    const tokens = async (logit_bias: Record<string, number>) => {
      const r = await (await post(server.url, "/v1/completions", { prompt: "The", max_tokens: 4, temperature: 0, logprobs: 0, logit_bias })).json();
      return r.choices[0].logprobs.tokens as string[];
    };
    const [p300] = await tokens({ "300": 100 });
    const [p301] = await tokens({ "301": 100 });
    expect(await tokens({ "300": 100 })).toEqual([p300, p300, p300, p300]);
    // ban everything but 300 and 301: greedy decoding can only pick those two
    const bans = Object.fromEntries(Array.from({ length: 512 }, (_, i) => [String(i), -100]).filter(([k]) => k !== "300" && k !== "301"));
    const free = await tokens({});
    expect(free.some((t) => t !== p300 && t !== p301)).toBe(true);
    for (const t of await tokens(bans)) expect([p300, p301]).toContain(t);
  });

  it("max_completion_tokens caps like max_tokens and wins over it", async () => {
    const r = await chat({ max_completion_tokens: 3, max_tokens: 10, ignore_eos: true, temperature: 0 });
    expect(r.usage.completion_tokens).toBe(3);
    expect(r.choices[0].finish_reason).toBe("length");
  });

  it("accepts the OpenAI sampling fields and the extensions", async () => {
    const r = await chat({
      max_tokens: 8, temperature: 0.8, top_p: 0.9, seed: 3, presence_penalty: 0.5, frequency_penalty: -0.5,
      top_k: 20, min_p: 0.05, repeat_penalty: 1.1, user: "someone", ignore_eos: true,
    });
    expect(r.usage.completion_tokens).toBe(8);
    const again = await chat({
      max_tokens: 8, temperature: 0.8, top_p: 0.9, seed: 3, presence_penalty: 0.5, frequency_penalty: -0.5,
      top_k: 20, min_p: 0.05, repeat_penalty: 1.1, user: "someone", ignore_eos: true,
    });
    expect(again.choices[0].message.content).toBe(r.choices[0].message.content);
  });

  it("stop strings apply to chat too, and an empty stop list is no stop", async () => {
    const full = await chat({ max_tokens: 16, temperature: 0, ignore_eos: true });
    const text: string = full.choices[0].message.content;
    const stop = text.slice(3, 6);
    const cut = await chat({ max_tokens: 16, temperature: 0, ignore_eos: true, stop });
    expect(cut.choices[0].message.content).toBe(text.slice(0, text.indexOf(stop)));
    expect(cut.choices[0].finish_reason).toBe("stop");
    const none = await chat({ max_tokens: 16, temperature: 0, ignore_eos: true, stop: [] });
    expect(none.choices[0].message.content).toBe(text);
  });
});

describe("message forms", () => {
  it("content parts, developer and system roles, assistant history", async () => {
    const r = await chat({
      messages: [
        { role: "developer", content: "Be brief." },
        { role: "user", content: [{ type: "text", text: "Hello " }, { type: "text", text: "there" }] },
        { role: "assistant", content: "Hi." },
        { role: "user", content: "Again?", name: "bob" },
      ],
      max_tokens: 4,
      temperature: 0,
    });
    expect(r.usage.prompt_tokens).toBeGreaterThan(10);
  });
});
