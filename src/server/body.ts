// body.ts - a request body read under the server's limits: at most --max-body bytes (413), all of
// it within --body-timeout seconds (408, and the connection closes), and a client that hangs up
// mid-upload is its own 400, not a server error with a stack trace.
import type { Context } from "hono";
import { ApiError } from "./errors.ts";
import { setIdleTimeout } from "./connection.ts";

export interface BodyLimits {
  maxBytes: number; // --max-body
  timeoutS: number; // --body-timeout
}

const tooLarge = (max: number) =>
  new ApiError(413, `Request body too large (limit ${max} bytes)`, "invalid_request_error", "request_too_large");

// A body is read once: a second reader (the validator after the gateway looked at `model`) gets
// the same bytes.
const read = new WeakMap<Request, Promise<Uint8Array>>();

export function readBody(c: Context, limits: BodyLimits): Promise<Uint8Array> {
  let bytes = read.get(c.req.raw);
  if (!bytes) read.set(c.req.raw, (bytes = readOnce(c, limits)));
  return bytes;
}

async function readOnce(c: Context, limits: BodyLimits): Promise<Uint8Array> {
  const declared = Number(c.req.header("Content-Length") ?? NaN);
  if (declared > limits.maxBytes) throw tooLarge(limits.maxBytes);
  const body = c.req.raw.body;
  if (!body) return new Uint8Array(0);
  // Bun's idle timeout does not count body bytes as activity: our own deadline takes over. It is
  // not re-armed once the body is in: the request is whole, --request-timeout bounds the rest,
  // and Bun checks idle timers only every few seconds, so a re-armed short timer could close the
  // connection at once, before the answer.
  setIdleTimeout(c, 0);
  const reader = body.getReader();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<"late">((r) => (timer = setTimeout(r, limits.timeoutS * 1000, "late")));
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      let r: Awaited<ReturnType<typeof reader.read>> | "late";
      try {
        r = await Promise.race([reader.read(), deadline]);
      } catch {
        // the only way a request body fails to read: the connection closed under it
        throw new ApiError(400, "The client closed the connection before the whole request body arrived", "invalid_request_error", "client_closed");
      }
      if (r === "late") {
        throw new ApiError(408, `The request body did not arrive within ${limits.timeoutS} s (--body-timeout)`, "invalid_request_error", "request_timeout");
      }
      if (r.done) break;
      size += r.value.byteLength;
      if (size > limits.maxBytes) throw tooLarge(limits.maxBytes);
      chunks.push(r.value);
    }
  } catch (err) {
    reader.cancel().catch(() => {});
    throw err;
  } finally {
    clearTimeout(timer);
  }
  return Buffer.concat(chunks);
}
