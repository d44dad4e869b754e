// gateway-replicas.test.ts - the gateway's replicas under real failures, on 127.0.0.1: health
// checks take a failing replica out of the balance and put it back, two `redrafter serve`
// replicas under load lose no request when one is SIGKILLed (only streams already under way end
// with an error event), and a llama-server upstream (when scripts/build-llama.sh --server has
// built one) answers through the gateway exactly as it answers directly.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, readdirSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { homedir } from "node:os";
import { join } from "node:path";
import { createParser } from "eventsource-parser";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeTinyModel, type TinyModel } from "../helpers/tiny-model.ts";
import { eventually, EXACT, post, startServer, type TestServer } from "./server.ts";

let tiny: TinyModel;
const servers: TestServer[] = [];

beforeAll(() => {
  tiny = makeTinyModel();
}, 600_000);

afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop("SIGKILL")));
  tiny?.cleanup();
});

/** A pure gateway with these upstream entries in its config file. */
async function gateway(upstreams: unknown[]): Promise<TestServer> {
  const file = join(tiny.dir, `gateway-replicas-${servers.length}.json`);
  writeFileSync(file, JSON.stringify({ upstreams }));
  const s = await startServer(["--config", file, "--no-log-requests"]);
  servers.push(s);
  return s;
}

async function metric(gw: TestServer, name: string, url: string): Promise<number> {
  const text = await (await fetch(`${gw.url}/metrics`)).text();
  const m = new RegExp(`${name}\\{[^}]*upstream="${url.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}"\\} ([0-9.]+)`).exec(text);
  if (!m) throw new Error(`no ${name} for ${url} in\n${text}`);
  return Number(m[1]);
}

/** A streamed answer read as it arrives: `first` resolves at the first content, `result` at the end. */
function readStream(res: Response) {
  let text = "";
  let finish: string | null = null;
  let done = false;
  let error: { code?: string } | null = null;
  const events: Record<string, unknown>[] = [];
  let onFirst!: () => void;
  const first = new Promise<void>((r) => (onFirst = r));
  const parser = createParser({
    onEvent: (e) => {
      if (e.data === "[DONE]") return void (done = true);
      const j = JSON.parse(e.data);
      events.push(j);
      if (j.error) error = j.error;
      const ch = j.choices?.[0];
      const piece = ch?.delta?.content ?? ch?.text ?? "";
      text += piece;
      if (piece) onFirst();
      finish = ch?.finish_reason ?? finish;
    },
  });
  const result = (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of res.body!) parser.feed(decoder.decode(chunk, { stream: true }));
    onFirst(); // a stream with no content still counts as started
    return { text, finish, done, error: error as { code?: string } | null, events };
  })();
  return { first, result };
}

describe("health checks", () => {
  it("skip a replica whose checks fail, use it again once they pass, and try unhealthy ones when none is healthy", async () => {
    const down = { a: false, b: false };
    const hits = { a: 0, b: 0 };
    const answer = { id: "x", object: "chat.completion", choices: [{ index: 0, message: { role: "assistant", content: "ok" }, finish_reason: "stop" }] };
    const fake = (name: "a" | "b") =>
      Bun.serve({
        hostname: "127.0.0.1",
        port: 0,
        fetch: (req) => {
          if (new URL(req.url).pathname === "/v1/models") {
            return down[name] ? new Response("down", { status: 503 }) : Response.json({ object: "list", data: [{ id: "m", object: "model" }] });
          }
          hits[name]++;
          return Response.json(answer);
        },
      });
    const [a, b] = [fake("a"), fake("b")];
    const [ua, ub] = [`http://127.0.0.1:${a.port}/v1`, `http://127.0.0.1:${b.port}/v1`];
    try {
      down.a = true;
      const gw = await gateway([{ model: "m", urls: [ua, ub], healthInterval: 0.2 }]);
      await eventually(async () => (await metric(gw, "redrafter_upstream_healthy", ua)) === 0);
      expect(await metric(gw, "redrafter_upstream_healthy", ub)).toBe(1);
      const send = async () => {
        const res = await post(gw.url, "/v1/chat/completions", { model: "m", messages: [{ role: "user", content: "hi" }] });
        expect(res.status).toBe(200);
      };
      for (let i = 0; i < 6; i++) await send();
      expect(hits).toEqual({ a: 0, b: 6 });

      down.b = true; // none healthy: still tried, in turn
      await eventually(async () => (await metric(gw, "redrafter_upstream_healthy", ub)) === 0);
      for (let i = 0; i < 4; i++) await send();
      expect(hits).toEqual({ a: 2, b: 8 });

      down.a = down.b = false;
      await eventually(async () => (await metric(gw, "redrafter_upstream_healthy", ua)) + (await metric(gw, "redrafter_upstream_healthy", ub)) === 2);
      for (let i = 0; i < 4; i++) await send();
      expect(hits).toEqual({ a: 4, b: 10 });
      expect(gw.log()).toMatch(/is unhealthy \(GET \/models: HTTP 503\)/);
      expect(gw.log()).toMatch(/is healthy again/);
    } finally {
      await Promise.all([a.stop(true), b.stop(true)]);
    }
  });
});

describe("two redrafter replicas, one killed under load", () => {
  let replicas: TestServer[];
  beforeAll(async () => {
    const args = ["--model", tiny.model, "--drafter", tiny.drafter, "--slots", "3", "--queue-size", "64", ...EXACT];
    replicas = await Promise.all([startServer(args), startServer(args)]);
    servers.push(...replicas);
  }, 120_000);

  it("loses no request that had not started streaming; cut streams end with an error event; none hang", async () => {
    const [ua, ub] = replicas.map((r) => `${r.url}/v1`) as [string, string];
    const gw = await gateway([{ model: "tiny*", urls: [ua, ub], healthInterval: 0.5 }]);
    const chat = (i: number, maxTokens: number, stream: boolean) =>
      post(gw.url, "/v1/chat/completions", {
        model: "tiny-model", messages: [{ role: "user", content: `Request ${i}: write a poem.` }], max_tokens: maxTokens,
        temperature: 0, ignore_eos: true, stream,
      });
    // long streams first (least outstanding: they alternate a, b, a, b), all under way, leaving each
    // replica one slot for the burst
    const streams = await Promise.all([0, 1, 2, 3].map(async (i) => readStream(await chat(i, 600, true))));
    await Promise.all(streams.map((s) => s.first));
    expect(await metric(gw, "redrafter_upstream_in_flight", ua)).toBe(2);
    // then a burst, about half of it queued on the replica about to die
    const whole = Array.from({ length: 40 }, (_, i) => chat(100 + i, 8, false));
    const late = Array.from({ length: 6 }, (_, i) => chat(200 + i, 8, true).then((r) => readStream(r).result));
    await eventually(async () => (await metric(gw, "redrafter_upstream_requests_total", ua)) >= 12);
    replicas[0]!.proc.kill("SIGKILL");

    const within = <T>(p: Promise<T>): Promise<T> => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const hang = new Promise<never>((_, rej) => (timer = setTimeout(() => rej(new Error("a request hung")), 60_000)));
      return Promise.race([p, hang]).finally(() => clearTimeout(timer));
    };
    const answers = await within(Promise.all(whole.map(async (p) => { const r = await p; return [r.status, await r.json()] as const; })));
    for (const [status, body] of answers) {
      expect(status, JSON.stringify(body)).toBe(200);
      expect(body.choices[0].message.content.length).toBeGreaterThan(0);
      expect(body.choices[0].finish_reason).toBe("length");
    }
    // a stream either finishes, or was cut after its first content and says so; one still queued
    // on the killed replica (no byte yet) was retried and finished
    const finishedOrCut = (s: Awaited<ReturnType<typeof readStream>["result"]>) => {
      if (s.done) expect(s.error).toBeNull();
      else expect([s.error?.code, s.text.length > 0]).toEqual(["upstream_error", true]);
    };
    for (const s of await within(Promise.all(late))) finishedOrCut(s);
    const long = await within(Promise.all(streams.map((s) => s.result)));
    for (const s of long) finishedOrCut(s);
    expect(long.map((s) => s.done).sort()).toEqual([false, false, true, true]); // the killed replica's two
    expect(await metric(gw, "redrafter_upstream_in_flight", ua)).toBe(0);
    await eventually(async () => (await metric(gw, "redrafter_upstream_healthy", ua)) === 0, 5_000);
    expect(await metric(gw, "redrafter_upstream_healthy", ub)).toBe(1);
  }, 180_000);
});

/** llama-server from scripts/build-llama.sh --server: $LLAMA_BIN, else the script's cache. */
function llamaServerBinary(): string | null {
  const dirs = process.env.LLAMA_BIN ? [process.env.LLAMA_BIN] : (() => {
    const cache = process.env.REDRAFTER_CACHE ?? join(homedir(), ".cache", "redrafter");
    if (!existsSync(cache)) return [];
    return readdirSync(cache).filter((d) => d.startsWith("llama.cpp-")).map((d) => join(cache, d, "build-cpu", "bin"));
  })();
  return dirs.map((d) => join(d, "llama-server")).find((f) => existsSync(f)) ?? null;
}

const llamaBin = llamaServerBinary();

describe.skipIf(!llamaBin)("a llama-server upstream", () => {
  let proc: ChildProcess;
  let direct: string;
  let gw: TestServer;
  beforeAll(async () => {
    const port = await new Promise<number>((res) => {
      const s = createServer().listen(0, "127.0.0.1", () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => res(p));
      });
    });
    direct = `http://127.0.0.1:${port}`;
    proc = spawn(llamaBin!, ["-m", tiny.model, "--host", "127.0.0.1", "--port", String(port), "-t", "1", "-c", "512", "-np", "1", "-ngl", "0"],
      { stdio: "ignore" });
    await eventually(async () => (await fetch(`${direct}/health`).catch(() => null))?.status === 200, 60_000);
    gw = await gateway([{ model: "*", urls: [`${direct}/v1`] }]);
  }, 120_000);
  afterAll(() => void proc?.kill("SIGKILL"));

  // what differs between two identical requests: ids, clocks and timings
  const stable = (j: Record<string, unknown>) => {
    const { id, created, timings, ...rest } = j;
    return rest;
  };

  it("whole and streamed answers through the gateway equal llama-server's own", async () => {
    // cache_prompt off (a llama-server field, passed on as is): the second of two identical
    // requests would otherwise report its prompt as cached
    for (const [path, body] of [
      ["/v1/chat/completions", { model: "tiny", messages: [{ role: "user", content: "Write a poem." }], max_tokens: 12, temperature: 0, seed: 1, cache_prompt: false }],
      ["/v1/completions", { model: "tiny", prompt: "Once upon", max_tokens: 12, temperature: 0, seed: 1, cache_prompt: false }],
    ] as const) {
      const own = await (await post(direct, path, body)).json();
      const via = await post(gw.url, path, body);
      expect(via.status).toBe(200);
      expect(stable(await via.json())).toEqual(stable(own));
      const ownStream = await readStream(await post(direct, path, { ...body, stream: true })).result;
      const viaStream = await readStream(await post(gw.url, path, { ...body, stream: true })).result;
      expect(viaStream.done).toBe(true);
      expect(viaStream.events.map(stable)).toEqual(ownStream.events.map(stable));
      expect(viaStream.text.length).toBeGreaterThan(0);
    }
  }, 60_000);
});
