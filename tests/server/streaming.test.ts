// streaming.test.ts - the SSE wire itself, read byte by byte with eventsource-parser and with
// curl -N: framing, role first, [DONE], include_usage, stats on the final chunk, stop strings
// split across tokens, and a client that disconnects freeing its slot for the next request.
import { spawn } from "node:child_process";
import { createParser, type EventSourceMessage } from "eventsource-parser";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeTinyModel, type TinyModel } from "../helpers/tiny-model.ts";
import { EXACT, eventually, post, startServer, type TestServer } from "./server.ts";

let tiny: TinyModel;
let server: TestServer;

beforeAll(async () => {
  tiny = makeTinyModel();
  // one slot: a request that does not free it would block every later test
  server = await startServer(["--model", tiny.model, "--drafter", tiny.drafter, "--slots", "1", ...EXACT]);
}, 120_000);

afterAll(async () => {
  await server?.stop();
  tiny?.cleanup();
});

const messages = [{ role: "user", content: "Write a poem." }];

/** POST and parse the SSE body: every event's data, and the raw text. */
async function sse(path: string, body: object): Promise<{ events: string[]; raw: string; res: Response }> {
  const res = await post(server.url, path, { ...body, stream: true });
  const raw = await res.text();
  const events: string[] = [];
  const parser = createParser({ onEvent: (e: EventSourceMessage) => events.push(e.data) });
  parser.feed(raw);
  return { events, raw, res };
}

describe("SSE streaming", () => {
  it("frames chat chunks: role first, content deltas, finish, [DONE]", async () => {
    const { events, raw, res } = await sse("/v1/chat/completions", { messages, max_tokens: 8, temperature: 0, ignore_eos: true });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
    // every event is exactly `data: ...\n\n`
    expect(raw).toMatch(/^(data: [^\n]+\n\n)+$/);
    expect(events.at(-1)).toBe("[DONE]");
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e));
    expect(chunks[0].choices[0].delta).toEqual({ role: "assistant", content: "" });
    const ids = new Set(chunks.map((c) => c.id));
    expect(ids.size).toBe(1);
    for (const c of chunks) expect(c.object).toBe("chat.completion.chunk");
    const last = chunks.at(-1);
    expect(["stop", "length"]).toContain(last.choices[0].finish_reason);
    expect(last.redrafter.target_calls).toBeGreaterThan(0);
    expect(chunks.slice(0, -1).every((c) => c.choices[0].finish_reason === null)).toBe(true);
    expect(chunks.every((c) => !("usage" in c))).toBe(true);
  });

  it("include_usage: usage null on every chunk, then a final chunk with empty choices and usage", async () => {
    const { events } = await sse("/v1/chat/completions", { messages, max_tokens: 5, temperature: 0, ignore_eos: true, stream_options: { include_usage: true } });
    expect(events.at(-1)).toBe("[DONE]");
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e));
    const final = chunks.at(-1);
    expect(final.choices).toEqual([]);
    expect(final.usage.completion_tokens).toBe(5);
    expect(final.usage.total_tokens).toBe(final.usage.prompt_tokens + 5);
    expect(final.redrafter.tau).toBeGreaterThanOrEqual(1);
    for (const c of chunks.slice(0, -1)) expect(c.usage).toBeNull();
    expect(chunks.at(-2).choices[0].finish_reason).toBe("length");
  });

  it("streams legacy completions with [DONE]", async () => {
    const { events } = await sse("/v1/completions", { prompt: "Once", max_tokens: 4, temperature: 0, ignore_eos: true });
    expect(events.at(-1)).toBe("[DONE]");
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e));
    for (const c of chunks) expect(c.object).toBe("text_completion");
    expect(chunks.at(-1).choices[0].finish_reason).toBe("length");
  });

  it("curl -N receives the chunks and [DONE]", async () => {
    const body = JSON.stringify({ messages, max_tokens: 4, temperature: 0, stream: true });
    const out = await new Promise<string>((resolve, reject) => {
      const p = spawn("curl", ["-sN", "-H", "Content-Type: application/json", "-d", body, `${server.url}/v1/chat/completions`]);
      let s = "";
      p.stdout.on("data", (d: Buffer) => (s += d.toString()));
      p.on("error", reject);
      p.on("close", (code) => (code === 0 ? resolve(s) : reject(new Error(`curl exited ${code}`))));
    });
    const lines = out.split("\n\n").filter(Boolean);
    expect(lines[0]).toMatch(/^data: \{.*"role":"assistant"/);
    expect(lines.at(-1)).toBe("data: [DONE]");
  });

  it("never leaks a stop string split across tokens, streamed or whole", async () => {
    const base = { prompt: "The", max_tokens: 24, temperature: 0, logprobs: 0, ignore_eos: true };
    const full = await (await post(server.url, "/v1/completions", base)).json();
    const text: string = full.choices[0].text;
    const offsets: number[] = full.choices[0].logprobs.text_offset;
    // a stop string that starts inside one token and ends inside a later one
    const k = offsets.findIndex((o, i) => i > 1 && o - offsets[i - 1]! >= 2 && (offsets[i + 1] ?? text.length) - o >= 1);
    expect(k).toBeGreaterThan(0);
    const stop = text.slice(offsets[k]! - 1, offsets[k]! + 1);
    const cut = text.indexOf(stop);
    const whole = await (await post(server.url, "/v1/completions", { ...base, stop: [stop, "unused-stop"] })).json();
    expect(whole.choices[0].text).toBe(text.slice(0, cut));
    expect(whole.choices[0].finish_reason).toBe("stop");
    const { events } = await sse("/v1/completions", { ...base, stop });
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e));
    expect(chunks.map((c) => c.choices[0].text).join("")).toBe(text.slice(0, cut));
    expect(chunks.at(-1).choices[0].finish_reason).toBe("stop");
  });

  it("a client that disconnects frees the slot", async () => {
    const health = async () => (await (await fetch(`${server.url}/health`)).json()) as { slots_busy: number; queue_depth: number };
    for (const stream of [true, false]) {
      const ac = new AbortController();
      // long enough to hold the only slot for minutes if nothing cancelled it
      const res = fetch(`${server.url}/v1/chat/completions`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ messages, max_tokens: 1900, ignore_eos: true, stream }),
        signal: ac.signal,
      });
      res.catch(() => {});
      if (stream) {
        const reader = (await res).body!.getReader();
        expect((await reader.read()).done).toBe(false); // generation is under way
      }
      await eventually(async () => (await health()).slots_busy === 1);
      ac.abort();
      await eventually(async () => (await health()).slots_busy === 0, 15_000);
    }
    const after = await post(server.url, "/v1/chat/completions", { messages, max_tokens: 3, temperature: 0 });
    expect(after.status).toBe(200);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/redrafter_generations_total\{outcome="cancelled"\} [2-9]/);
  }, 60_000);
});
