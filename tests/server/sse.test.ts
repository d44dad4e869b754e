// sse.test.ts - the SSE writer on its own: `data: {json}\n\n` per event, [DONE] after a run
// that completes, one error event and no [DONE] after a run that throws, keepalive comments in
// silences, cancel on disconnect.
import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { ApiError } from "../../src/server/errors.ts";
import { sseResponse, type SseSink } from "../../src/server/sse.ts";

function app(run: (sink: SseSink) => Promise<void>, onCancel = () => {}) {
  return new Hono().get("/", (c) => sseResponse(c, run, onCancel));
}

describe("sseResponse", () => {
  it("frames events and ends with [DONE]", async () => {
    const r = await app(async (s) => {
      s.send({ a: 1 });
      s.send({ b: "x\ny" });
    }).request("/");
    expect(r.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
    expect(r.headers.get("cache-control")).toBe("no-cache");
    expect(await r.text()).toBe('data: {"a":1}\n\ndata: {"b":"x\\ny"}\n\ndata: [DONE]\n\n');
  });

  it("sends a failure as one error event, without [DONE]", async () => {
    const r = await app(async (s) => {
      s.send({ a: 1 });
      throw new ApiError(400, "bad grammar", "invalid_request_error", "invalid_grammar", "response_format");
    }).request("/");
    expect(await r.text()).toBe(
      'data: {"a":1}\n\ndata: {"error":{"message":"bad grammar","type":"invalid_request_error","param":"response_format","code":"invalid_grammar"}}\n\n',
    );
  });

  it("sends a keepalive comment whenever the stream is silent for the interval", async () => {
    const r = await new Hono()
      .get("/", (c) =>
        sseResponse(c, async (s) => {
          await new Promise((res) => setTimeout(res, 250)); // silent: keepalives at ~100 and ~200 ms
          for (let i = 0; i < 5; i++) {
            s.send({ i });
            await new Promise((res) => setTimeout(res, 10)); // never silent for 100 ms: none
          }
        }, () => {}, 100),
      )
      .request("/");
    const text = await r.text();
    const [silence, rest] = [text.slice(0, text.indexOf("data:")), text.slice(text.indexOf("data:"))];
    expect(silence).toMatch(/^(: keepalive\n\n){2,}$/);
    expect(rest).toBe([0, 1, 2, 3, 4].map((i) => `data: {"i":${i}}\n\n`).join("") + "data: [DONE]\n\n");
  });

  it("tells the producer when the client goes away", async () => {
    let cancelled = false;
    let sink!: SseSink;
    const r = await app(
      (s) => {
        sink = s;
        s.send({ a: 1 });
        return new Promise(() => {}); // never finishes by itself
      },
      () => (cancelled = true),
    ).request("/");
    const reader = r.body!.getReader();
    await reader.read();
    await reader.cancel();
    expect(cancelled).toBe(true);
    expect(sink.closed).toBe(true);
    sink.send({ late: true }); // a no-op, not a throw
  });
});
