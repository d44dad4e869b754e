// sse.ts - the server-sent events writer for streamed completions: `data: {json}\n\n` per
// chunk, `data: [DONE]\n\n` at the end, or one `data: {"error": {...}}` event then the end when
// the generation fails mid-stream. A `: keepalive` comment goes out whenever nothing else has for
// a while (a long queue wait or prefill), so that clients and proxies do not give up on a
// silent stream. A client that goes away cancels the stream, and that is passed on (onCancel)
// so the generation stops and its slot frees.
import type { Context } from "hono";
import { toApiError } from "./errors.ts";

/** The longest a stream stays silent before a keepalive comment. */
export const KEEPALIVE_MS = 15_000;

export interface SseSink {
  /** Queue one `data:` event; a no-op once the client has gone. */
  send(data: unknown): void;
  /** Queue a `: keepalive` comment (clients ignore comments). */
  keepalive(): void;
  readonly closed: boolean;
}

const encoder = new TextEncoder();

const SSE_HEADERS = {
  "Content-Type": "text/event-stream; charset=utf-8",
  "Cache-Control": "no-cache",
  Connection: "keep-alive",
  "X-Accel-Buffering": "no", // proxies must not hold chunks back
} as const;

export function sseResponse(
  c: Context,
  run: (sink: SseSink) => Promise<void>,
  onCancel: () => void,
  keepaliveMs = KEEPALIVE_MS,
): Response {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  let closed = false;
  let lastWrite = performance.now();
  let timer: ReturnType<typeof setTimeout> | null = null;
  // one timer, re-armed for the rest of the silence: per-token timers would churn
  const arm = (ms: number) => {
    timer = setTimeout(() => {
      const silent = performance.now() - lastWrite;
      if (silent >= keepaliveMs) sink.keepalive();
      arm(silent >= keepaliveMs ? keepaliveMs : keepaliveMs - silent);
    }, ms);
  };
  const write = (text: string) => {
    if (closed) return;
    lastWrite = performance.now();
    controller.enqueue(encoder.encode(text));
  };
  const stop = () => {
    closed = true;
    if (timer) clearTimeout(timer);
  };
  const end = () => {
    if (closed) return;
    stop();
    controller.close();
  };
  const sink: SseSink = {
    send: (data) => write(`data: ${JSON.stringify(data)}\n\n`),
    keepalive: () => write(": keepalive\n\n"),
    get closed() {
      return closed;
    },
  };
  const body = new ReadableStream<Uint8Array>({
    start(ctrl) {
      controller = ctrl;
    },
    cancel() {
      stop();
      onCancel();
    },
  });
  arm(keepaliveMs);
  run(sink).then(
    () => {
      write("data: [DONE]\n\n");
      end();
    },
    (err) => {
      sink.send(toApiError(err).body);
      end();
    },
  );
  return c.body(body, 200, SSE_HEADERS);
}
