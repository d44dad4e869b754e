// hardening.test.ts - `redrafter serve` against a hostile or careless client, on real servers:
// browser requests (Host, Origin, CORS, Content-Type), bodies that stall or are abandoned,
// generations past --request-timeout, shutdown with running and queued requests, `n` the server
// can never serve, numbers the native side would wrap, log injection, file paths, and the key
// file. Every path that ends a generation early must leave no slot busy.
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createParser } from "eventsource-parser";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { defaultConfig } from "../../src/config.ts";
import { repoRoot } from "../../src/ffi/symbols.ts";
import { logSafe } from "../../src/server/access-log.ts";
import { createApp } from "../../src/app.ts";
import { ServerState } from "../../src/server/state.ts";
import { makeTinyModel, type TinyModel } from "../helpers/tiny-model.ts";
import { EXACT, eventually, post, startServer, type TestServer } from "./server.ts";

let tiny: TinyModel;
let server: TestServer; // one slot, one queued; a generation outlasts any test step
let timed: TestServer; // --request-timeout 1, with a drafter

// request lines in the log (EXACT turns them off)
const LOGGED = EXACT.filter((a) => a !== "--no-log-requests");
// 32768 tokens of plain decoding on the tiny model: minutes of generation (speculation would
// make its length depend on how well the random drafter guesses), cancelled by the tests
const LONG = ["--ctx-size", "32768", "--no-draft", "--slots", "1"];

beforeAll(async () => {
  tiny = makeTinyModel();
  [server, timed] = await Promise.all([
    startServer(["--model", tiny.model, ...LONG, "--queue-size", "1", "--body-timeout", "1", "--header-timeout", "2", ...LOGGED]),
    startServer(["--model", tiny.model, "--drafter", tiny.drafter, "--ctx-size", "32768", "--slots", "1", "--request-timeout", "1", ...EXACT]),
  ]);
}, 120_000);

afterAll(async () => {
  await Promise.all([server?.stop(), timed?.stop()]);
  tiny?.cleanup();
});

const messages = [{ role: "user", content: "hi" }];
const forever = { messages, ignore_eos: true, temperature: 0 }; // runs to the end of the context

async function expectError(res: Response | Promise<Response>, status: number, fields: Record<string, unknown>) {
  const r = await res;
  const body = await r.json();
  expect(r.status, JSON.stringify(body)).toBe(status);
  expect(Object.keys(body.error).sort()).toEqual(["code", "message", "param", "type"]);
  expect(body.error).toMatchObject(fields);
  return body.error as { message: string };
}

const health = async (s: TestServer) => (await (await fetch(`${s.url}/health`)).json()) as { slots_busy: number; queue_depth: number };
const idle = (s: TestServer) => eventually(async () => (await health(s)).slots_busy === 0 && (await health(s)).queue_depth === 0, 15_000);

/** An SSE body read to its end: every event's data. */
async function events(res: Response): Promise<string[]> {
  const out: string[] = [];
  const parser = createParser({ onEvent: (e) => out.push(e.data) });
  parser.feed(await res.text());
  return out;
}

/** A raw HTTP/1.1 exchange: writes `head`, then whatever `then` writes; resolves with all the
 *  server sent once it closes the connection (or after limitMs, with closed false). */
function raw(url: string, head: string, then?: (write: (s: string) => void, destroy: () => void) => void, limitMs = 15_000) {
  const { hostname, port } = new URL(url);
  return new Promise<{ text: string; closed: boolean; ms: number }>((resolve, reject) => {
    const t0 = performance.now();
    const sock = connect(Number(port), hostname, () => {
      sock.write(head);
      then?.((s) => void (sock.destroyed || sock.write(s)), () => sock.destroy());
    });
    let text = "";
    const limit = setTimeout(() => {
      sock.destroy();
      resolve({ text, closed: false, ms: performance.now() - t0 });
    }, limitMs);
    sock.on("data", (d) => (text += d.toString()));
    sock.on("error", (e) => (text ? undefined : reject(e)));
    sock.on("close", () => {
      clearTimeout(limit);
      resolve({ text, closed: true, ms: performance.now() - t0 });
    });
  });
}

describe("browsers: Host, Origin, CORS, Content-Type", () => {
  // the checks come before the engine: an app with none answers /metrics
  const app = (settings: Partial<typeof defaultConfig> = {}) =>
    createApp(new ServerState({ ...defaultConfig, logRequests: false, ...settings }, null));
  const get = (a: ReturnType<typeof app>, headers: Record<string, string>) => a.request("/metrics", { headers });

  it("accepts the listen address, localhost and IP literals as Host; other names get 403 naming --allowed-host", async () => {
    const a = app();
    for (const host of ["127.0.0.1:8080", "localhost:8080", "LOCALHOST.", "[::1]:8080", "10.1.2.3", "[fe80::1]"]) {
      expect((await get(a, { Host: host })).status, host).toBe(200);
    }
    for (const host of ["evil.test", "evil.test:8080", "localhost.evil.test", "127.0.0.1.evil.test"]) {
      const e = await expectError(get(a, { Host: host }), 403, { code: "host_not_allowed", type: "invalid_request_error" });
      expect(e.message).toMatch(/--allowed-host/);
    }
    expect((await get(app({ host: "box.lan" }), { Host: "box.lan:8080" })).status).toBe(200);
    expect((await get(app({ allowedHost: ["api.example.com"] }), { Host: "API.example.com:443" })).status).toBe(200);
    expect((await get(app({ allowedHost: ["*"] }), { Host: "anything.test" })).status).toBe(200);
  });

  it("refuses a foreign Origin with 403 and sends no CORS headers unless --cors-origin", async () => {
    const a = app();
    const e = await expectError(get(a, { Host: "127.0.0.1:8080", Origin: "http://evil.test" }), 403, { code: "origin_not_allowed" });
    expect(e.message).toMatch(/--cors-origin/);
    await expectError(get(a, { Host: "127.0.0.1:8080", Origin: "null" }), 403, { code: "origin_not_allowed" });
    // same origin: the page the server itself would serve
    const same = await get(a, { Host: "127.0.0.1:8080", Origin: "http://127.0.0.1:8080" });
    expect(same.status).toBe(200);
    expect(same.headers.get("access-control-allow-origin")).toBeNull();
    const preflight = await a.request("/v1/chat/completions", {
      method: "OPTIONS",
      headers: { Host: "127.0.0.1:8080", Origin: "http://evil.test", "Access-Control-Request-Method": "POST" },
    });
    expect(preflight.status).toBe(403);
    expect(preflight.headers.get("access-control-allow-origin")).toBeNull();

    const listed = app({ corsOrigin: ["http://app.test"] });
    const ok = await get(listed, { Host: "127.0.0.1:8080", Origin: "http://app.test" });
    expect(ok.headers.get("access-control-allow-origin")).toBe("http://app.test");
    await expectError(get(listed, { Host: "127.0.0.1:8080", Origin: "http://evil.test" }), 403, { code: "origin_not_allowed" });
    const any = await get(app({ corsOrigin: ["*"] }), { Host: "127.0.0.1:8080", Origin: "http://evil.test" });
    expect(any.headers.get("access-control-allow-origin")).toBe("*");
  });

  it("on a real server: DNS-rebinding Host, foreign Origin and non-JSON bodies are refused", async () => {
    const rebound = await raw(server.url, "GET /v1/models HTTP/1.1\r\nHost: attacker.test\r\nConnection: close\r\n\r\n");
    expect(rebound.text).toMatch(/^HTTP\/1.1 403/);
    expect(rebound.text).toContain('"code":"host_not_allowed"');
    const r = await fetch(`${server.url}/v1/models`, { headers: { Origin: "http://evil.test" } });
    expect(r.status).toBe(403);
    expect(r.headers.get("access-control-allow-origin")).toBeNull();
    const plain = (await fetch(`${server.url}/health`)).headers;
    expect(plain.get("access-control-allow-origin")).toBeNull();
    // a form or text/plain POST is a "simple" request a page may send without preflight
    for (const type of ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"]) {
      const e = await expectError(post(server.url, "/v1/chat/completions", { messages, max_tokens: 1 }, { "Content-Type": type }), 415, {
        code: "unsupported_media_type", type: "invalid_request_error",
      });
      expect(e.message).toMatch(/application\/json/);
    }
    const charset = await post(server.url, "/v1/chat/completions", { messages, max_tokens: 1 }, { "Content-Type": "application/json; charset=utf-8" });
    expect(charset.status).toBe(200);
  });
});

describe("request bodies", () => {
  const head = (length: number) =>
    `POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\n\r\n`;

  it("a body still incomplete after --body-timeout gets 408 and the connection closes, even if it trickles", async () => {
    let timer: ReturnType<typeof setInterval> | undefined;
    const r = await raw(server.url, head(10_000) + '{"messages"', (write) => {
      timer = setInterval(() => write(" "), 200);
    });
    clearInterval(timer);
    expect(r.closed).toBe(true);
    expect(r.ms).toBeLessThan(5_000);
    expect(r.text).toMatch(/^HTTP\/1.1 408/);
    expect(r.text).toMatch(/connection: close/i);
    expect(r.text).toContain('"code":"request_timeout"');
    expect(r.text).toContain("--body-timeout");
  });

  it("an upload the client abandons is one 400 line in the log, not a 500 with a stack trace", async () => {
    const before = server.log().length;
    await raw(server.url, head(1000) + '{"messages":', (_, destroy) => setTimeout(destroy, 100));
    await eventually(async () => server.log().slice(before).includes("[http] POST /v1/chat/completions 400"));
    const log = server.log().slice(before);
    expect(log).not.toMatch(/DOMException|AbortError|internal error|\n\s+at /);
    expect(log.trim().split("\n").filter((l) => !l.includes("GET /health"))).toHaveLength(1);
  });

  it("a body over --max-body is refused from its Content-Length", async () => {
    const r = await raw(server.url, head(2 << 20));
    expect(r.text).toMatch(/^HTTP\/1.1 413/);
    expect(r.closed).toBe(true);
  });
});

/** Reads an SSE body to its end (or the connection's), feeding a parser. */
async function drain(reader: ReadableStreamDefaultReader<Uint8Array>, seen: string[] = []): Promise<string[]> {
  const parser = createParser({ onEvent: (e) => seen.push(e.data) });
  const dec = new TextDecoder();
  for (let r = await reader.read(); !r.done; r = await reader.read()) parser.feed(dec.decode(r.value, { stream: true }));
  return seen;
}

describe("long generations", () => {
  it("a stream queued past the idle timeout is kept, gets `: keepalive` comments, then its answer", async () => {
    const held = (await post(server.url, "/v1/chat/completions", { ...forever, stream: true })).body!.getReader();
    expect((await held.read()).done).toBe(false); // it holds the only slot
    const t0 = performance.now();
    // waits in the queue, silent for longer than --header-timeout (Bun's idle cut) allows
    const queued = await post(server.url, "/v1/chat/completions", { messages, max_tokens: 3, stream: true });
    expect(performance.now() - t0).toBeGreaterThan(14_000);
    expect(queued.status).toBe(200);
    const reader = queued.body!.getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    expect(first.startsWith(": keepalive\n\n")).toBe(true);
    expect((await health(server)).queue_depth).toBe(1);
    // (`held` must stay referenced until here: a collected response closes its connection)
    await held.cancel();
    const seen = await drain(reader);
    expect(seen.at(-1)).toBe("[DONE]");
    expect(JSON.parse(seen.at(-2)!).choices[0].finish_reason).toBe("length");
    await idle(server);
  }, 60_000);

  it("--request-timeout: a stream ends with a timeout error event, a whole answer is a 504, queue time counts", async () => {
    const t0 = performance.now();
    const streamed = await post(timed.url, "/v1/chat/completions", { ...forever, stream: true });
    expect(streamed.status).toBe(200);
    const seen = await events(streamed);
    expect(seen).not.toContain("[DONE]");
    const last = JSON.parse(seen.at(-1)!);
    expect(Object.keys(last)).toEqual(["error"]);
    expect(last.error).toMatchObject({ code: "timeout", type: "server_error" });
    expect(last.error.message).toMatch(/--request-timeout/);
    // no choice claims to have finished: the error is its end
    for (const e of seen.slice(0, -1)) expect(JSON.parse(e).choices[0].finish_reason).toBeNull();
    expect(performance.now() - t0).toBeLessThan(10_000);
    await idle(timed);

    await expectError(post(timed.url, "/v1/completions", { prompt: "a", ignore_eos: true }), 504, { code: "timeout", type: "server_error" });
    await idle(timed);
    // two at once on one slot: the second's wait in the queue is part of its time
    const both = await Promise.all([1, 2].map(() => post(timed.url, "/v1/completions", { prompt: "a", ignore_eos: true })));
    for (const r of both) await expectError(r, 504, { code: "timeout" });
    await idle(timed);
    const fine = await post(timed.url, "/v1/completions", { prompt: "a", max_tokens: 3 });
    expect(fine.status).toBe(200);
  }, 60_000);
});

describe("shutdown", () => {
  it("lets a running stream finish within --shutdown-grace, answers the queued request 503, exits 0", async () => {
    const s = await startServer(["--model", tiny.model, "--slots", "1", "--queue-size", "1", "--shutdown-grace", "30", ...EXACT]);
    try {
      const running = await post(s.url, "/v1/chat/completions", { messages, max_tokens: 1000, ignore_eos: true, stream: true });
      const reader = running.body!.getReader();
      expect((await reader.read()).done).toBe(false);
      const queued = post(s.url, "/v1/chat/completions", { messages, max_tokens: 3 });
      await eventually(async () => (await health(s)).queue_depth === 1);
      const exited = s.stop("SIGTERM");
      await expectError(queued, 503, { code: "server_shutting_down", type: "server_error" });
      const seen = await drain(reader);
      expect(seen.at(-1)).toBe("[DONE]");
      expect(JSON.parse(seen.at(-2)!).choices[0].finish_reason).toBe("length");
      expect(await exited).toBe(0);
    } finally {
      await s.stop();
    }
  }, 60_000);

  it("cuts a stream still running after the grace with a server_shutting_down error event", async () => {
    const s = await startServer(["--model", tiny.model, ...LONG, "--shutdown-grace", "1", ...EXACT]);
    try {
      const running = await post(s.url, "/v1/chat/completions", { ...forever, stream: true });
      const reader = running.body!.getReader();
      expect((await reader.read()).done).toBe(false);
      const t0 = performance.now();
      const exited = s.stop("SIGINT");
      const seen = await drain(reader);
      expect(performance.now() - t0).toBeGreaterThan(900); // the grace was given
      expect(seen).not.toContain("[DONE]");
      expect(JSON.parse(seen.at(-1)!).error).toMatchObject({ code: "server_shutting_down", type: "server_error" });
      for (const e of seen.slice(0, -1)) expect(JSON.parse(e).choices[0].finish_reason).toBeNull();
      expect(await exited).toBe(0);
    } finally {
      await s.stop();
    }
  }, 60_000);

  it("answers any request that still arrives 503", async () => {
    const state = new ServerState({ ...defaultConfig, logRequests: false }, null);
    const app = createApp(state);
    void state.shutdown(0);
    await expectError(app.request("/health"), 503, { code: "server_shutting_down" });
    const r = app.request("/v1/chat/completions", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ messages }) });
    await expectError(r, 503, { code: "server_shutting_down" });
  });
});

describe("request limits", () => {
  const chat = (body: object) => post(server.url, "/v1/chat/completions", body);

  it("n the server can never hold is a 400, not a 429 forever", async () => {
    // one slot and one queue place: three choices never fit
    const e = await expectError(chat({ messages, n: 3, max_tokens: 1 }), 400, { param: "n", type: "invalid_request_error" });
    expect(e.message).toMatch(/--slots/);
    const two = await (await chat({ messages, n: 2, max_tokens: 1 })).json();
    expect(two.choices).toHaveLength(2);
    await idle(server);
  });

  it("numbers the native side would wrap or refuse are 400s naming the field", async () => {
    await expectError(chat({ messages, max_tokens: 1, top_k: 2 ** 32 + 5 }), 400, { param: "top_k" });
    await expectError(chat({ messages, max_tokens: 1, repeat_penalty: 0 }), 400, { param: "repeat_penalty" });
    await expectError(chat({ messages, max_tokens: 2 ** 31 }), 400, { param: "max_tokens" });
    await expectError(chat({ messages, max_completion_tokens: 2 ** 40 }), 400, { param: "max_completion_tokens" });
    await expectError(chat({ messages, max_tokens: 1, n: 1.5 }), 400, { param: "n" });
    await expectError(chat({ messages, max_tokens: 1, seed: 2 ** 60 }), 400, { param: "seed" });
    // JSON has no Infinity, but 1e999 parses to it
    await expectError(post(server.url, "/v1/chat/completions", `{"messages":[{"role":"user","content":"hi"}],"temperature":1e999}`), 400, { param: "temperature" });
    await expectError(post(server.url, "/v1/completions", { prompt: [1, 2 ** 32 + 1], max_tokens: 1 }), 400, { param: "prompt[1]" });
    const ok = await chat({ messages, max_tokens: 1, top_k: 2 ** 31 - 1, repeat_penalty: 0.5 });
    expect(ok.status).toBe(200);
    await idle(server);
  });
});

describe("what the server gives away", () => {
  it("logs a decoded path escaped, on one line, capped", async () => {
    const before = server.log().length;
    await fetch(`${server.url}/%0aforged%00line%5c${"x".repeat(5000)}`);
    await eventually(async () => server.log().slice(before).includes(" 404 "));
    const lines = server.log().slice(before).split("\n").filter((l) => l.includes("forged"));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^\[http\] GET \/\\u000aforged\\u0000line\\\\xxx.* 404 /);
    expect(lines[0]!.length).toBeLessThan(400);
    expect(logSafe("a\u2028b\u009bc\u007f")).toBe("a\\u2028b\\u009bc\\u007f");
  });

  it("names files without their directories in /v1/models and /health", async () => {
    const models = await (await fetch(`${timed.url}/v1/models`)).text();
    const h = await (await fetch(`${timed.url}/health`)).text();
    for (const body of [models, h]) {
      expect(body).not.toContain(tiny.dir);
      expect(body).not.toContain(tmpdir());
    }
    const meta = JSON.parse(models).data[0].meta;
    expect(meta).not.toHaveProperty("path");
    expect(meta.drafter).toBe("tiny-drafter.gguf");
  });
});

describe("--api-key-file", () => {
  const dir = mkdtempSync(join(tmpdir(), "rd-key-"));
  const keyFile = (text: string) => {
    const p = join(dir, `k${Math.random().toString(36).slice(2)}`);
    writeFileSync(p, text);
    return p;
  };
  const serve = (args: string[], env: Record<string, string> = {}) =>
    spawnSync(process.execPath, [join(repoRoot, "src", "cli", "main.ts"), "serve", "--model", tiny.model, "--port", "0", ...args], {
      encoding: "utf8", timeout: 60_000, env: { ...process.env, ...env },
    });

  it("reads the key from the file's first line; the key is not in the command line", async () => {
    const s = await startServer(["--model", tiny.model, "--api-key-file", keyFile("  sesame  \nnot the key\n"), ...EXACT]);
    try {
      await expectError(post(s.url, "/v1/chat/completions", { messages, max_tokens: 1 }), 401, { code: "invalid_api_key" });
      await expectError(post(s.url, "/v1/chat/completions", { messages, max_tokens: 1 }, { Authorization: "Bearer not the key" }), 401, {});
      const ok = await post(s.url, "/v1/chat/completions", { messages, max_tokens: 1 }, { Authorization: "Bearer sesame" });
      expect(ok.status).toBe(200);
      expect(s.proc.spawnargs.join(" ")).not.toContain("sesame");
      expect(s.log()).toContain("API key required");
    } finally {
      await s.stop();
    }
  });

  it("fails at start-up on an empty or unreadable file, or when a key is also given", () => {
    for (const [args, env, msg] of [
      [["--api-key-file", keyFile("\nsesame\n")], {}, /api-key-file .*first line is empty/],
      [["--api-key-file", join(dir, "missing")], {}, /cannot read --api-key-file/],
      [["--api-key-file", keyFile("sesame")], { REDRAFTER_API_KEY: "other" }, /not both/],
      [["--api-key-file", keyFile("sesame"), "--api-key", "other"], {}, /not both/],
    ] as const) {
      const r = serve([...args], env);
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(msg);
      expect(r.stderr).not.toContain("listening");
    }
  });
});
