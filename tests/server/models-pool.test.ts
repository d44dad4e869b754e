// models-pool.test.ts - several local models in one `redrafter serve` process (src/engine/pool.ts),
// on tiny models of different seeds: the default loads at start and the others on first use
// (concurrent first requests sharing one load), a memory budget that fits the default and one
// more, so a first use unloads the idle one and is refused with 503 + Retry-After while the other
// is busy, a model that fails to load answering 500 without taking the server down, unknown ids
// 404, greedy output equal to the same model served alone, and a clean shutdown.
import { renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.ts";
import { estimateModelBytes } from "../../src/models/footprint.ts";
import { makeTinyModel, type TinyModel } from "../helpers/tiny-model.ts";
import { EXACT, eventually, post, startServer, type TestServer } from "./server.ts";

const MiB = 1024 * 1024;
const CTX = 2048;
let tinies: TinyModel[] = [];
const files = { a: "", b: "", c: "", broken: "" };
let drafterB = "";
let pool: TestServer;
let alone: TestServer; // tiny-b with its drafter, by itself

/** A tiny model of its own seed, renamed so that its id is `name`. */
function tinyNamed(name: string, seed: number): { model: string; drafter: string } {
  const t = makeTinyModel({ seed });
  tinies.push(t);
  const model = join(t.dir, `${name}.gguf`);
  renameSync(t.model, model);
  return { model, drafter: t.drafter };
}

beforeAll(async () => {
  const a = tinyNamed("tiny-a", 1);
  const b = tinyNamed("tiny-b", 2);
  files.a = a.model;
  files.b = b.model;
  drafterB = b.drafter;
  files.c = tinyNamed("tiny-c", 3).model;
  files.broken = join(tinies[0]!.dir, "broken.gguf");
  writeFileSync(files.broken, "not a model at all");
  // the default and one more fit, not two more: a model's first use unloads the other
  const est = (model: string, drafter: string | null) => estimateModelBytes(model, { drafter, nCtx: CTX, slots: 1, kvF32: true });
  const [ea, eb, ec] = [est(files.a, null), est(files.b, drafterB), est(files.c, null)];
  const budget = Math.ceil((ea + Math.max(eb, ec)) / MiB);
  expect(ea + eb + ec).toBeGreaterThan(budget * MiB);
  const args = ["--ctx-size", String(CTX), ...EXACT];
  [pool, alone] = await Promise.all([
    startServer(["--model", files.a, "--model", `${files.b}=${drafterB}`, "--model", `${files.c}=none`, "--model", files.broken,
      "--models-memory-mib", String(budget), ...args]),
    startServer(["--model", files.b, "--drafter", drafterB, ...args]),
  ]);
}, 120_000);

afterAll(async () => {
  await Promise.all([pool?.stop(), alone?.stop()]);
  for (const t of tinies) t.cleanup();
});

/** The model-labelled series of a /metrics family, by model id. */
async function perModel(url: string, family: string): Promise<Record<string, number>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const m of text.matchAll(new RegExp(`^${family}\\{model="([^"]+)"\\} (\\S+)$`, "gm"))) out[m[1]!] = Number(m[2]);
  return out;
}

const loaded = (url: string) => perModel(url, "redrafter_model_loaded");
const chat = (model: string, content = "Write a poem.", maxTokens = 12) =>
  ({ model, messages: [{ role: "user", content }], max_tokens: maxTokens, temperature: 0, ignore_eos: true });
const complete = (model: string, prompt: string) => ({ model, prompt, max_tokens: 16, temperature: 0, ignore_eos: true });

async function text(url: string, path: string, body: object): Promise<string> {
  const res = await post(url, path, body);
  const json = await res.json();
  expect(res.status, JSON.stringify(json)).toBe(200);
  return path.includes("chat") ? json.choices[0].message.content : json.choices[0].text;
}

describe("--model, repeated", () => {
  it("parses MODEL=DRAFTER, =none, comma lists and the file's objects", () => {
    const flags = loadConfig(["--model", "smollm2", "--model=/m/b.gguf=/d/b.gguf", "--model", "/m/c.gguf=none"], {}).config.models;
    expect(flags).toEqual([
      { model: "smollm2", drafter: null, alias: [] },
      { model: "/m/b.gguf", drafter: "/d/b.gguf", alias: [] },
      { model: "/m/c.gguf", drafter: false, alias: [] },
    ]);
    expect(loadConfig([], { REDRAFTER_MODEL: "a.gguf, b.gguf=d.gguf" }).config.models.map((m) => [m.model, m.drafter])).toEqual([["a.gguf", null], ["b.gguf", "d.gguf"]]);
    const file = join(tinies[0]!.dir, "models.json");
    writeFileSync(file, JSON.stringify({ models: ["a.gguf", { model: "b.gguf", drafter: false, alias: ["bee"] }], modelsMemoryMib: 512 }));
    const { config } = loadConfig(["--config", file], {});
    expect(config.models).toEqual([{ model: "a.gguf", drafter: null, alias: [] }, { model: "b.gguf", drafter: false, alias: ["bee"] }]);
    expect(config.modelsMemoryMib).toBe(512);
  });
});

describe("several local models in one process", () => {
  it("loads only the default at start; lists every model; ready while the default is loaded", async () => {
    expect(await loaded(pool.url)).toEqual({ "tiny-a": 1, "tiny-b": 0, "tiny-c": 0, broken: 0 });
    const list = await (await fetch(`${pool.url}/v1/models`)).json();
    expect(list.data.map((m: { id: string }) => m.id)).toEqual(["tiny-a", "tiny-b", "tiny-c", "broken"]);
    expect(list.data.map((m: { meta: { loaded: boolean } }) => m.meta.loaded)).toEqual([true, false, false, false]);
    expect(list.data[1].meta.drafter).toBe("tiny-drafter.gguf");
    const health = await (await fetch(`${pool.url}/health`)).json();
    expect(health).toMatchObject({ status: "ok", model: "tiny-a" });
    expect(health.models.map((m: { state: string }) => m.state)).toEqual(["loaded", "unloaded", "unloaded", "unloaded"]);
  });

  it("loads a model once for concurrent first requests, and routes each request to its model", async () => {
    const answers = await Promise.all([0, 1, 2, 3].map(() => text(pool.url, "/v1/chat/completions", chat("tiny-b"))));
    expect(new Set(answers).size).toBe(1);
    expect((await perModel(pool.url, "redrafter_model_loads_total"))["tiny-b"]).toBe(1);
    expect(pool.log().match(/model 'tiny-b' loaded/g)).toHaveLength(1);
    // another model answers otherwise: the request went where its `model` said
    expect(await text(pool.url, "/v1/chat/completions", chat("tiny-a"))).not.toBe(answers[0]);
  });

  it("answers greedy requests as the same model served alone (its own drafter included)", async () => {
    for (const prompt of ["Once upon a time", "The capital of France is"]) {
      expect(await text(pool.url, "/v1/completions", complete("tiny-b", prompt))).toBe(await text(alone.url, "/v1/completions", complete("tiny-b", prompt)));
    }
    expect(await text(pool.url, "/v1/chat/completions", chat("tiny-b", "Hello there"))).toBe(await text(alone.url, "/v1/chat/completions", chat("tiny-b", "Hello there")));
    const tokens = await (await post(pool.url, "/tokenize", { content: "Hello world", model: "tiny-b" })).json();
    expect(tokens).toEqual(await (await post(alone.url, "/tokenize", { content: "Hello world" })).json());
  });

  it("unloads the least recently used idle model when the budget is full", async () => {
    await text(pool.url, "/v1/chat/completions", chat("tiny-c"));
    expect(await loaded(pool.url)).toMatchObject({ "tiny-a": 1, "tiny-b": 0, "tiny-c": 1 });
    expect(await perModel(pool.url, "redrafter_model_evictions_total")).toMatchObject({ "tiny-a": 0, "tiny-b": 1, "tiny-c": 0 });
  });

  it("never unloads a busy model: the load is refused with 503 and Retry-After, and goes through once it is idle", async () => {
    const stream = new AbortController();
    const res = await fetch(`${pool.url}/v1/completions`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ ...complete("tiny-c", "Tell me a long story"), max_tokens: 1500, stream: true }),
      signal: stream.signal,
    });
    try {
      const reader = res.body!.getReader();
      const first = new TextDecoder().decode((await reader.read()).value);
      expect(first).toMatch(/^data: /);

      const refused = await post(pool.url, "/v1/chat/completions", chat("tiny-b"));
      expect(refused.status).toBe(503);
      expect(refused.headers.get("retry-after")).toBe("2");
      const body = await refused.json();
      expect(body.error).toMatchObject({ code: "model_capacity", type: "server_error" });
      expect(body.error.message).toMatch(/tiny-c/);
      expect(await loaded(pool.url)).toMatchObject({ "tiny-b": 0, "tiny-c": 1 });
      // the busy stream goes on untouched
      const more = new TextDecoder().decode((await reader.read()).value);
      expect(more).toMatch(/^data: \{/);
      expect(more).not.toMatch(/"error"/);
    } finally {
      stream.abort();
    }
    await eventually(async () => (await post(pool.url, "/v1/chat/completions", chat("tiny-b"))).status === 200, 30_000);
    expect(await loaded(pool.url)).toMatchObject({ "tiny-a": 1, "tiny-b": 1, "tiny-c": 0 });
    expect(await perModel(pool.url, "redrafter_model_evictions_total")).toMatchObject({ "tiny-b": 1, "tiny-c": 1 });
    expect((await perModel(pool.url, "redrafter_model_loads_total"))["tiny-b"]).toBe(2);
  }, 60_000);

  it("answers a model that fails to load with a 500 naming it, and keeps serving", async () => {
    const res = await post(pool.url, "/v1/chat/completions", chat("broken"));
    expect(res.status).toBe(500);
    const { error } = await res.json();
    expect(error).toMatchObject({ code: "model_load_failed", type: "server_error" });
    expect(error.message).toMatch(/'broken' failed to load/);
    // the server logs before it answers, but its stderr reaches this process through a pipe
    // that the HTTP answer can overtake: wait for the line, then assert it
    const why = /model 'broken' failed to load: .*not a GGUF file/;
    await eventually(async () => why.test(pool.log())).catch(() => {});
    expect(pool.log()).toMatch(why);
    expect((await perModel(pool.url, "redrafter_model_load_failures_total")).broken).toBe(1);
    expect((await fetch(`${pool.url}/health`)).status).toBe(200);
    expect((await post(pool.url, "/v1/completions", complete("tiny-a", "Hi"))).status).toBe(200);
  });

  it("answers an unknown model 404, naming the served ones", async () => {
    const res = await post(pool.url, "/v1/chat/completions", chat("tiny-z"));
    expect(res.status).toBe(404);
    const { error } = await res.json();
    expect(error).toMatchObject({ code: "model_not_found", param: "model" });
    expect(error.message).toContain("Available: tiny-a, tiny-b, tiny-c, broken");
    expect((await fetch(`${pool.url}/v1/models/tiny-z`)).status).toBe(404);
    expect((await fetch(`${pool.url}/v1/models/tiny-c`)).status).toBe(200);
    // every request so far has given its model back, errors and streams included
    expect(Object.values(await perModel(pool.url, "redrafter_model_requests")).every((n) => n === 0)).toBe(true);
  });

  it("closes every loaded engine on SIGTERM and exits 0", async () => {
    expect(await pool.stop("SIGTERM")).toBe(0);
    expect(pool.log()).toContain("SIGTERM: shutting down");
  });
});
