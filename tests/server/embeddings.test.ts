// embeddings.test.ts - POST /v1/embeddings, /tokenize and /detokenize on a real server with the
// tiny model: shapes, unit length, base64 round trip, `dimensions`, the limits and errors, and
// --log-prompts. The semantic check (near-duplicates closer than unrelated sentences) needs a
// real model: it runs when Gemma 3 270M's or SmolLM2's GGUF is on this machine, else it is
// skipped (the tiny model's weights are random).
import { existsSync, readdirSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MAX_EMBEDDING_INPUTS } from "../../routes/embeddings.ts";
import { makeTinyModel, type TinyModel } from "../helpers/tiny-model.ts";
import { EXACT, post, startServer, type TestServer } from "./server.ts";

const CTX = 256; // llama.cpp rounds a context up to a multiple of 256
let tiny: TinyModel;
let server: TestServer;

beforeAll(async () => {
  tiny = makeTinyModel();
  server = await startServer(["--model", tiny.model, "--ctx-size", String(CTX), "--log-prompts", ...EXACT]);
}, 120_000);

afterAll(async () => {
  await server?.stop();
  tiny?.cleanup();
});

const embed = (body: object, s = server) => post(s.url, "/v1/embeddings", body);

async function ok(res: Promise<Response>): Promise<any> {
  const r = await res;
  const body = await r.json();
  expect(r.status, JSON.stringify(body).slice(0, 500)).toBe(200);
  return body;
}

async function expectError(res: Promise<Response>, status: number, fields: object, mentions: string[] = []) {
  const r = await res;
  const body = await r.json();
  expect(r.status, JSON.stringify(body).slice(0, 500)).toBe(status);
  expect(body.error).toMatchObject(fields);
  for (const m of mentions) expect(body.error.message).toContain(m);
}

const norm = (v: number[]) => Math.sqrt(v.reduce((a, x) => a + x * x, 0));
const dot = (a: number[], b: number[]) => a.reduce((s, x, i) => s + x * b[i]!, 0);

describe("/v1/embeddings", () => {
  it("embeds a string, texts, token ids and lists of them as unit vectors, in order", async () => {
    const one = await ok(embed({ input: "The cat sat on the mat." }));
    expect(one.object).toBe("list");
    expect(one.model).toBe("tiny-model");
    expect(one.data).toHaveLength(1);
    expect(one.data[0]).toMatchObject({ object: "embedding", index: 0 });
    const v: number[] = one.data[0].embedding;
    expect(v.length).toBeGreaterThan(8);
    expect(norm(v)).toBeCloseTo(1, 5);
    expect(one.usage.prompt_tokens).toBeGreaterThan(0);
    expect(one.usage.total_tokens).toBe(one.usage.prompt_tokens);

    const many = await ok(embed({ input: ["The cat sat on the mat.", "A dog barked.", "The cat sat on the mat."] }));
    expect(many.data.map((d: any) => d.index)).toEqual([0, 1, 2]);
    expect(many.data[0].embedding).toEqual(v); // the same input, the same vector, wherever it sits
    expect(many.data[2].embedding).toEqual(v);
    expect(dot(many.data[0].embedding, many.data[1].embedding)).toBeLessThan(0.9999);
    expect(many.usage.prompt_tokens).toBeGreaterThan(2 * one.usage.prompt_tokens);

    // token ids: what /tokenize gives (with BOS, as text is embedded) embed to the same vector
    const tok = await ok(post(server.url, "/tokenize", { content: "The cat sat on the mat.", add_special: true, parse_special: false }));
    const ids = await ok(embed({ input: tok.tokens }));
    expect(ids.data[0].embedding).toEqual(v);
    expect(ids.usage.prompt_tokens).toBe(tok.tokens.length);
    const lists = await ok(embed({ input: [tok.tokens, [5, 6, 7]] }));
    expect(lists.data[0].embedding).toEqual(v);
    expect(lists.usage.prompt_tokens).toBe(tok.tokens.length + 3);
  });

  it("sends base64 as little-endian float32 bytes of the same vector", async () => {
    const input = "Embeddings in base64.";
    const float = await ok(embed({ input, encoding_format: "float" }));
    const b64 = await ok(embed({ input, encoding_format: "base64" }));
    const bytes = Buffer.from(b64.data[0].embedding, "base64");
    const back = Array.from(new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4));
    expect(back).toEqual(float.data[0].embedding.map((x: number) => Math.fround(x)));
  });

  it("dimensions keeps the first N components at unit length; more than the model has is a 400", async () => {
    const input = "Shorter, please.";
    const full: number[] = (await ok(embed({ input }))).data[0].embedding;
    const short: number[] = (await ok(embed({ input, dimensions: 8 }))).data[0].embedding;
    expect(short).toHaveLength(8);
    expect(norm(short)).toBeCloseTo(1, 5);
    const head = full.slice(0, 8);
    const scale = norm(head);
    short.forEach((x, i) => expect(x).toBeCloseTo(head[i]! / scale, 5));
    expect((await ok(embed({ input, dimensions: full.length }))).data[0].embedding).toEqual(full);
    await expectError(embed({ input, dimensions: full.length + 1 }), 400, { param: "dimensions" }, [String(full.length)]);
    await expectError(embed({ input, dimensions: 0 }), 400, { param: "dimensions" });
  });

  it("refuses bad input with a 400 naming it", async () => {
    await expectError(embed({}), 400, { param: "input" });
    await expectError(embed({ input: "" }), 400, { param: "input" });
    await expectError(embed({ input: [] }), 400, { param: "input" });
    await expectError(embed({ input: ["ok", ""] }), 400, { param: "input[1]" });
    await expectError(embed({ input: [[1, 2], []] }), 400, { param: "input[1]" });
    await expectError(embed({ input: [1, -2] }), 400, { param: "input[1]" });
    await expectError(embed({ input: [1, 10_000_000] }), 400, { param: "input[1]" }, ["vocabulary"]);
    await expectError(embed({ input: [[1, 2], [3, 10_000_000]] }), 400, { param: "input[1][1]" }, ["vocabulary"]);
    await expectError(embed({ input: "x", encoding_format: "int8" }), 400, { param: "encoding_format" });
    await expectError(embed({ input: "x", model: "gpt-4" }), 404, { code: "model_not_found", param: "model" });
    await expectError(embed({ input: Array.from({ length: CTX + 1 }, () => 5) }), 400,
      { code: "context_length_exceeded", param: "input" }, [String(CTX)]);
    await expectError(embed({ input: Array.from({ length: MAX_EMBEDDING_INPUTS + 1 }, () => "a") }), 400,
      { param: "input" }, [String(MAX_EMBEDDING_INPUTS)]);
    // the embedder still serves after them
    expect(norm((await ok(embed({ input: "still here" }))).data[0].embedding)).toBeCloseTo(1, 5);
  });

  it("bounds the tokens of a request, all inputs together", async () => {
    // 600 inputs of 120 tokens: 72,000 tokens, over the bound; refused before any is embedded
    const long = Array.from({ length: 120 }, (_, i) => 3 + (i % 50));
    const t0 = performance.now();
    await expectError(embed({ input: Array.from({ length: 600 }, () => long) }), 400, { param: "input", code: "too_many_tokens" }, ["65536"]);
    expect(performance.now() - t0).toBeLessThan(5_000);
  });

  it("logs each input under --log-prompts", async () => {
    await ok(embed({ input: ["first logged", "second logged"] }));
    expect(server.log()).toMatch(/\[prompt\] \S+\[0\] \d+ tokens: ".*first logged"/);
    expect(server.log()).toMatch(/\[prompt\] \S+\[1\] \d+ tokens: ".*second logged"/);
  });

  it("logs chat and completion prompts under --log-prompts, the template rendered", async () => {
    await ok(post(server.url, "/v1/chat/completions", { messages: [{ role: "user", content: "chat logged" }], max_tokens: 1 }));
    await ok(post(server.url, "/v1/completions", { prompt: "completion logged", max_tokens: 1 }));
    const chat = /\[prompt\] \S+ \d+ tokens: (".*chat logged.*")/.exec(server.log());
    expect(chat).not.toBeNull();
    expect(JSON.parse(chat![1]!)).not.toBe("chat logged"); // the turn markers around it
    expect(server.log()).toMatch(/\[prompt\] \S+ \d+ tokens: ".*completion logged"/);
  });
});

describe("/tokenize and /detokenize", () => {
  it("round-trips text through token ids, with pieces on request", async () => {
    const content = "Hello world, tokenized.";
    const plain = await ok(post(server.url, "/tokenize", { content }));
    expect(plain.tokens.length).toBeGreaterThan(2);
    expect(plain.tokens.every((t: unknown) => Number.isInteger(t))).toBe(true);
    // the pieces as they are: this vocabulary puts a space before the first word, as llama-server shows
    const back = await ok(post(server.url, "/detokenize", { tokens: plain.tokens }));
    expect(back.content.trimStart()).toBe(content);

    const special = await ok(post(server.url, "/tokenize", { content, add_special: true }));
    expect(special.tokens.length).toBe(plain.tokens.length + 1); // BOS
    expect(special.tokens.slice(1)).toEqual(plain.tokens);

    const pieces = await ok(post(server.url, "/tokenize", { content, with_pieces: true }));
    expect(pieces.tokens.map((p: any) => p.id)).toEqual(plain.tokens);
    expect(pieces.tokens.map((p: any) => p.piece).join("")).toBe(back.content);
  });

  it("validates its input", async () => {
    await expectError(post(server.url, "/tokenize", {}), 400, { param: "content" });
    await expectError(post(server.url, "/tokenize", { content: 5 }), 400, { param: "content" });
    await expectError(post(server.url, "/tokenize", { content: "x".repeat(16 * CTX + 1) }), 400, { param: "content" });
    await expectError(post(server.url, "/detokenize", { tokens: [1, "2"] }), 400, { param: "tokens[1]" });
    await expectError(post(server.url, "/detokenize", { tokens: [1, 10_000_000] }), 400, { param: "tokens[1]" }, ["vocabulary"]);
    expect((await ok(post(server.url, "/detokenize", { tokens: [] }))).content).toBe("");
  });
});

/** A real model's GGUF on this machine, or null. */
function realModel(): string | null {
  const gemma = join(homedir(), ".cache", "redrafter", "models", "gemma-3-270m-q4_k_m.gguf");
  if (existsSync(gemma)) return gemma;
  const dir = "/tmp/rd-bi-models";
  const found = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith(".gguf")).sort() : [];
  return found.length > 0 ? join(dir, found[0]!) : null;
}

const REAL = process.env.RD_EMBED_MODEL ?? realModel();

describe.skipIf(REAL === null)(`a real model (${REAL ?? "none found"})`, () => {
  let real: TestServer;
  beforeAll(async () => {
    real = await startServer(["--model", REAL!, "--threads", "1", "--no-log-requests", "--no-drafter", "--ctx-size", "512"]);
  }, 300_000);
  afterAll(async () => {
    await real?.stop();
  });

  it("puts near-duplicate sentences closer than unrelated ones", async () => {
    const pairs = [
      ["The cat is sleeping on the sofa.", "A cat sleeps on the couch.", "Interest rates rose sharply in the third quarter."],
      ["How do I reset my password?", "How can I change my password?", "The train to Berlin leaves at noon."],
      ["Paris is the capital of France.", "The capital of France is Paris.", "Photosynthesis converts light into chemical energy."],
    ];
    const body = await ok(embed({ input: pairs.flat() }, real));
    const v: number[][] = body.data.map((d: any) => d.embedding);
    for (let i = 0; i < pairs.length; i++) {
      const [a, b, c] = [v[3 * i]!, v[3 * i + 1]!, v[3 * i + 2]!];
      const near = dot(a, b), far = dot(a, c);
      console.log(`cosine: near ${near.toFixed(4)}, unrelated ${far.toFixed(4)}  (${pairs[i]![0]})`);
      expect(near).toBeGreaterThan(far);
    }
  }, 300_000);
});
