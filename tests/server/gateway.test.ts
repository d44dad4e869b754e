// gateway.test.ts - `redrafter serve --upstream` in front of a real `redrafter serve` on the tiny
// model, both on 127.0.0.1: whole and streamed answers through the gateway equal the upstream's
// own, unknown ids 404, the gateway's key and the upstream's kept apart, a dead replica beside a
// live one loses no request, and an upstream that never answers is a 504 within its timeout.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { createParser } from "eventsource-parser";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.ts";
import { makeTinyModel, type TinyModel } from "../helpers/tiny-model.ts";
import { EXACT, post, startServer, type TestServer } from "./server.ts";

let tiny: TinyModel;
let upstream: TestServer;
const servers: TestServer[] = [];
const UP = { Authorization: "Bearer up-key" };
const GW = { Authorization: "Bearer gw-key" };
const env = { UP_KEY: "up-key" };

/** A pure gateway (no --model) with these upstream entries in its config file. */
async function gateway(upstreams: unknown[], args: string[] = []): Promise<TestServer> {
  const file = join(tiny.dir, `gateway-${servers.length}.json`);
  writeFileSync(file, JSON.stringify({ upstreams }));
  const s = await startServer(["--config", file, "--no-log-requests", ...args], { env });
  servers.push(s);
  return s;
}

beforeAll(async () => {
  tiny = makeTinyModel();
  upstream = await startServer(["--model", tiny.model, "--drafter", tiny.drafter, "--slots", "2", "--api-key", "up-key", ...EXACT]);
}, 120_000);

afterAll(async () => {
  await Promise.all([upstream, ...servers].map((s) => s?.stop()));
  tiny?.cleanup();
});

const chat = { model: "tiny-model", messages: [{ role: "user", content: "Write a poem." }], max_tokens: 12, temperature: 0, ignore_eos: true };

/** A streamed answer's text and finish reason per choice, and whether it ended with [DONE]. */
async function streamed(res: Response): Promise<{ text: string; finish: string | null; done: boolean; error: unknown }> {
  let text = "";
  let finish: string | null = null;
  let done = false;
  let error: unknown = null;
  const parser = createParser({
    onEvent: (e) => {
      if (e.data === "[DONE]") return void (done = true);
      const j = JSON.parse(e.data);
      if (j.error) error = j.error;
      const ch = j.choices?.[0];
      text += ch?.delta?.content ?? ch?.text ?? "";
      finish = ch?.finish_reason ?? finish;
    },
  });
  parser.feed(await res.text());
  return { text, finish, done, error };
}

describe("--upstream settings", () => {
  it("parses repeated PATTERN=URL[,URL...] flags and refuses other spellings", () => {
    const { config } = loadConfig(["--upstream", "tiny*=http://a:1/v1,http://b:2/v1", "--upstream", "org/m:8b=https://c/v1"], {});
    expect(config.upstreams.map((u) => [u.model, u.urls, u.timeout, u.weight])).toEqual([
      ["tiny*", ["http://a:1/v1", "http://b:2/v1"], 600, 1],
      ["org/m:8b", ["https://c/v1"], 600, 1],
    ]);
    expect(() => loadConfig(["--upstream", "tiny*"], {})).toThrow(/invalid upstream "tiny\*" \(from --upstream\): expected PATTERN=URL/);
  });
});

describe("gateway", () => {
  let gw: TestServer;
  beforeAll(async () => {
    gw = await gateway([{ model: "tiny*", urls: [`${upstream.url}/v1`], apiKeyEnv: "UP_KEY" }], ["--api-key", "gw-key"]);
  }, 60_000);

  it("serves without a local model: /health, and /v1/models lists the upstream's", async () => {
    expect(gw.log()).not.toMatch(/\[serve\] model /);
    expect((await fetch(`${gw.url}/health`)).status).toBe(200);
    const models = await (await fetch(`${gw.url}/v1/models`, { headers: GW })).json();
    expect(models.data.map((m: { id: string }) => m.id)).toEqual(["tiny-model"]);
    expect((await fetch(`${gw.url}/v1/models/tiny-model`, { headers: GW })).status).toBe(200);
  });

  it("whole and streamed answers equal the upstream's own (chat and completions)", async () => {
    const direct = await (await post(upstream.url, "/v1/chat/completions", chat, UP)).json();
    const via = await post(gw.url, "/v1/chat/completions", chat, GW);
    expect(via.status).toBe(200);
    const viaJson = await via.json();
    expect(viaJson.choices[0].message.content).toBe(direct.choices[0].message.content);
    expect(viaJson.choices[0].finish_reason).toBe(direct.choices[0].finish_reason);
    expect(direct.choices[0].message.content.length).toBeGreaterThan(0);

    const s = await streamed(await post(gw.url, "/v1/chat/completions", { ...chat, stream: true }, GW));
    expect(s).toEqual({ text: direct.choices[0].message.content, finish: direct.choices[0].finish_reason, done: true, error: null });

    const comp = { model: "tiny-model", prompt: "Once upon", max_tokens: 10, temperature: 0, ignore_eos: true };
    const cDirect = await (await post(upstream.url, "/v1/completions", comp, UP)).json();
    const cVia = await (await post(gw.url, "/v1/completions", comp, GW)).json();
    expect(cVia.choices[0].text).toBe(cDirect.choices[0].text);
    const cs = await streamed(await post(gw.url, "/v1/completions", { ...comp, stream: true }, GW));
    expect([cs.text, cs.finish, cs.done]).toEqual([cDirect.choices[0].text, cDirect.choices[0].finish_reason, true]);
  });

  it("keeps the upstream's OpenAI errors and statuses", async () => {
    const res = await post(gw.url, "/v1/chat/completions", { ...chat, max_tokens: -1 }, GW);
    const direct = await post(upstream.url, "/v1/chat/completions", { ...chat, max_tokens: -1 }, UP);
    expect(res.status).toBe(direct.status);
    expect(await res.json()).toEqual(await direct.json());
  });

  it("answers 404 for an id no upstream serves", async () => {
    const res = await post(gw.url, "/v1/chat/completions", { ...chat, model: "gpt-5" }, GW);
    expect(res.status).toBe(404);
    expect((await res.json()).error).toMatchObject({ code: "model_not_found", param: "model" });
  });

  it("keeps the gateway's key and the upstream's apart", async () => {
    expect((await post(gw.url, "/v1/chat/completions", chat)).status).toBe(401);
    expect((await post(gw.url, "/v1/chat/completions", chat, UP)).status).toBe(401);
    expect((await post(upstream.url, "/v1/chat/completions", chat, GW)).status).toBe(401);
    // a gateway with no key for the upstream: the client's Authorization (here the upstream's
    // very key) is not passed on, so the upstream refuses, and that is the gateway's fault (502)
    const bare = await startServer(["--upstream", `tiny*=${upstream.url}/v1`, "--api-key", "up-key", "--no-log-requests"]);
    servers.push(bare);
    const res = await post(bare.url, "/v1/chat/completions", chat, UP);
    expect(res.status).toBe(502);
    expect((await res.json()).error.code).toBe("upstream_auth_failed");
  });

  it("counts per upstream in /metrics", async () => {
    const text = await (await fetch(`${gw.url}/metrics`)).text();
    const requests = new RegExp(`redrafter_upstream_requests_total\\{model="tiny\\*",upstream="${upstream.url}/v1"\\} (\\d+)`).exec(text);
    expect(Number(requests?.[1])).toBe(5); // the answers above that reached the upstream
    expect(text).toMatch(/redrafter_upstream_in_flight\{[^}]*\} 0/);
    expect(text).toMatch(/redrafter_upstream_latency_seconds_sum\{[^}]*\} [0-9.]+/);
  });
});

describe("replicas and timeouts", () => {
  it("a dead replica beside a live one: every request succeeds (retried before the first byte)", async () => {
    const dead = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("") });
    const deadUrl = `http://127.0.0.1:${dead.port}/v1`;
    await dead.stop(true);
    // no health checks: they would take the dead replica out before the retry is exercised
    const gw = await gateway([{ model: "tiny*", urls: [deadUrl, `${upstream.url}/v1`], apiKeyEnv: "UP_KEY", healthInterval: 0 }]);
    const results = await Promise.all([0, 1, 2, 3].map(async (i) => {
      const res = await post(gw.url, "/v1/chat/completions", { ...chat, max_tokens: 3, stream: i % 2 === 1 });
      return [res.status, i % 2 === 1 ? (await streamed(res)).done : (await res.json()).choices.length];
    }));
    expect(results).toEqual([[200, 1], [200, true], [200, 1], [200, true]]);
    const text = await (await fetch(`${gw.url}/metrics`)).text();
    expect(text).toMatch(new RegExp(`redrafter_upstream_errors_total\\{model="tiny\\*",upstream="${deadUrl}"\\} [1-9]`));
  });

  it("a stream that breaks midway ends with an error event, and a client that leaves aborts the upstream request", async () => {
    let aborted = 0;
    const chunk = { id: "x", object: "chat.completion.chunk", choices: [{ index: 0, delta: { content: "Hi" }, finish_reason: null }] };
    const fake = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch: async (req) => {
        const body = (await req.json()) as { model: string };
        req.signal.addEventListener("abort", () => aborted++);
        if (body.model === "hang") return new Promise<Response>(() => {});
        const stream = new ReadableStream({
          start(c) {
            c.enqueue(new TextEncoder().encode(`data: ${JSON.stringify(chunk)}\n\n`));
            c.close(); // no [DONE]
          },
        });
        return new Response(stream, { headers: { "Content-Type": "text/event-stream" } });
      },
    });
    try {
      const gw = await gateway([{ model: "*", urls: [`http://127.0.0.1:${fake.port}/v1`] }]);
      const s = await streamed(await post(gw.url, "/v1/chat/completions", { ...chat, model: "broken", stream: true }));
      expect(s).toMatchObject({ text: "Hi", done: false, error: { code: "upstream_error", message: expect.stringMatching(/before \[DONE\]/) } });
      const ctl = new AbortController();
      const req = fetch(`${gw.url}/v1/chat/completions`, {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ ...chat, model: "hang" }), signal: ctl.signal,
      }).catch(() => null);
      await new Promise((r) => setTimeout(r, 300));
      ctl.abort();
      await req;
      const until = Date.now() + 5000;
      while (aborted === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 25));
      expect(aborted).toBe(1);
    } finally {
      await fake.stop(true);
    }
  });

  it("an upstream that never answers is a 504 within its timeout", async () => {
    const hang = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Promise<Response>(() => {}) });
    try {
      const gw = await gateway([{ model: "slow", urls: [`http://127.0.0.1:${hang.port}/v1`], timeout: 1 }]);
      for (const stream of [false, true]) {
        const t0 = performance.now();
        const res = await post(gw.url, "/v1/chat/completions", { ...chat, model: "slow", stream });
        const s = (performance.now() - t0) / 1000;
        expect(res.status).toBe(504);
        expect((await res.json()).error).toMatchObject({ code: "upstream_timeout", message: expect.stringMatching(/did not answer within 1 s/) });
        expect(s).toBeGreaterThan(0.9);
        expect(s).toBeLessThan(3);
      }
    } finally {
      await hang.stop(true);
    }
  });
});
