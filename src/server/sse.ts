// sse.ts - the server-sent events writer for streamed completions: `data: {json}\n\n` per
// chunk, `data: [DONE]\n\n` at the end, or one `data: {"error": {...}}` event then the end when
// the generation fails mid-stream. A client that goes away cancels the stream, and that is
// passed on (onCancel) so the generation stops and its slot frees.
import type { Context } from "hono";
import { toApiError } from "./errors.ts";

export interface SseSink {
  /** Queue one `data:` event; a no-op once the client has gone. */
  send(data: unknown): void;
  readonly closed: boolean;
}

const encoder = new TextEncoder();

const SSE_HEADERS = {
  "Content-Type": "text/event-stream; charset=utf-8",
  "Cache-Control": "no-cache",
  Connection: "keep-alive",
  "X-Accel-Buffering": "no", // proxies must not hold chunks back
} as const;

export function sseResponse(c: Context, run: (sink: SseSink) => Promise<void>, onCancel: () => void): Response {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  let closed = false;
  const write = (text: string) => {
    if (!closed) controller.enqueue(encoder.encode(text));
  };
  const end = () => {
    if (closed) return;
    closed = true;
    controller.close();
  };
  const sink: SseSink = {
    send: (data) => write(`data: ${JSON.stringify(data)}\n\n`),
    get closed() {
      return closed;
    },
  };
  const body = new ReadableStream<Uint8Array>({
    start(ctrl) {
      controller = ctrl;
    },
    cancel() {
      closed = true;
      onCancel();
    },
  });
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
