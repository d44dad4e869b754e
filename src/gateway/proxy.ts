// proxy.ts - one request forwarded to a pool's replica. The client's body goes upstream byte for
// byte with the upstream's own key (never the client's Authorization). A whole answer passes
// through with its status when it is OpenAI-shaped; anything else becomes a 502 in our error
// shape. A streamed answer is parsed event by event (eventsource-parser) and sent on through our
// SSE writer, so keepalives, [DONE] and the mid-stream error event are the server's own. A
// replica that fails before its first byte (refused, reset, 5xx) is retried once on another;
// one that does not answer within its timeout is a 504; a client that leaves aborts the upstream
// request.
import type { Context } from "hono";
import { EventSourceParserStream } from "eventsource-parser/stream";
import { ApiError, type ErrorType } from "../server/errors.ts";
import { sseResponse } from "../server/sse.ts";
import type { Pool, Replica } from "./pool.ts";

const log = (msg: string) => console.error(`[gateway] ${msg}`);

const TIMED_OUT = Symbol("timed out");
const CLIENT_GONE = Symbol("client gone");

interface UpstreamError {
  message?: unknown;
  type?: unknown;
  code?: unknown;
  param?: unknown;
}

/** An OpenAI error object from upstream as ours (status 502: the status only matters before a
 *  stream starts, and there the upstream's own status is kept instead). */
function fromUpstream(e: UpstreamError, url: string): ApiError {
  const str = (v: unknown) => (typeof v === "string" ? v : typeof v === "number" ? String(v) : null);
  const type = (["invalid_request_error", "rate_limit_error", "server_error"] as const).find((t) => t === e.type) ?? "server_error";
  return new ApiError(502, str(e.message) ?? `upstream ${url} failed`, type as ErrorType, str(e.code) ?? "upstream_error", str(e.param));
}

function errorObject(text: string): UpstreamError | null {
  try {
    const j = JSON.parse(text) as { error?: unknown };
    return typeof j?.error === "object" && j.error !== null ? (j.error as UpstreamError) : null;
  } catch {
    return null;
  }
}

const snippet = (text: string) => (text.length > 200 ? `${text.slice(0, 200)}...` : text).replace(/\s+/g, " ").trim();

/** One attempt's wiring: the abort controller that the timeout and the client share. */
function attempt(c: Context, replica: Replica) {
  const ctl = new AbortController();
  const client = c.req.raw.signal;
  const onClient = () => ctl.abort(CLIENT_GONE);
  if (client.aborted) onClient();
  else client.addEventListener("abort", onClient, { once: true });
  const timer = setTimeout(() => ctl.abort(TIMED_OUT), replica.timeoutS * 1000);
  return {
    signal: ctl.signal,
    abort: onClient,
    stopTimer: () => clearTimeout(timer),
    done: () => {
      clearTimeout(timer);
      client.removeEventListener("abort", onClient);
    },
  };
}

function timeoutError(replica: Replica): ApiError {
  return new ApiError(504, `The upstream ${replica.url} did not answer within ${replica.timeoutS} s`, "server_error", "upstream_timeout");
}

const clientGone = () => new ApiError(400, "The client closed the connection", "invalid_request_error", "client_closed");

/** POST `path` (e.g. /chat/completions) with `body` to the pool; `stream`: the request asked for SSE. */
export async function forward(c: Context, pool: Pool, path: string, body: Uint8Array, stream: boolean, requestId: string): Promise<Response> {
  const tried = new Set<Replica>();
  let replica = pool.pick()!;
  for (;;) {
    tried.add(replica);
    const end = replica.start();
    const a = attempt(c, replica);
    const headers: Record<string, string> = {
      "Content-Type": "application/json",
      Accept: stream ? "text/event-stream" : "application/json",
      "X-Request-Id": requestId,
    };
    if (replica.apiKey) headers.Authorization = `Bearer ${replica.apiKey}`;
    // a retry is worth it only for failures before the first byte, and only once
    const retry = (why: string): Replica | null => {
      const other = tried.size === 1 ? pool.pick(tried) : null;
      log(`${replica.url}${path}: ${why}${other ? `; retrying on ${other.url}` : ""}`);
      return other;
    };
    let res: Response;
    try {
      res = await fetch(`${replica.url}${path}`, { method: "POST", headers, body, signal: a.signal });
    } catch (e) {
      a.done();
      end(true);
      if (a.signal.reason === TIMED_OUT) throw timeoutError(replica);
      if (a.signal.reason === CLIENT_GONE) throw clientGone();
      const other = retry(`unreachable (${(e as Error).message})`);
      if (other) {
        replica = other;
        continue;
      }
      throw new ApiError(502, `The upstream ${replica.url} is unreachable: ${(e as Error).message}`, "server_error", "upstream_unreachable");
    }
    if (res.status >= 500) {
      const other = retry(`HTTP ${res.status}`);
      if (other) {
        res.body?.cancel().catch(() => {});
        a.done();
        end(true);
        replica = other;
        continue;
      }
    }
    if (stream && res.ok && res.body && (res.headers.get("Content-Type") ?? "").includes("text/event-stream")) {
      a.stopTimer();
      return relayStream(c, res.body, replica, a, end);
    }
    let text: string;
    try {
      text = await res.text();
    } catch (e) {
      end(true);
      if (a.signal.reason === TIMED_OUT) throw timeoutError(replica);
      if (a.signal.reason === CLIENT_GONE) throw clientGone();
      throw new ApiError(502, `The upstream ${replica.url} failed while answering: ${(e as Error).message}`, "server_error", "upstream_error");
    } finally {
      a.done();
    }
    end(!res.ok);
    const type = res.headers.get("Content-Type") ?? "application/json";
    if (res.ok) return new Response(text, { status: res.status, headers: { "Content-Type": type } });
    const err = errorObject(text);
    // the gateway's own credentials were refused: not the client's fault, and not its key
    if (res.status === 401 || res.status === 403) {
      throw new ApiError(502, `The upstream ${replica.url} refused the gateway's credentials (HTTP ${res.status}${err ? `: ${String(err.message)}` : ""})`,
        "server_error", "upstream_auth_failed");
    }
    if (err) return new Response(text, { status: res.status, headers: { "Content-Type": "application/json" } });
    throw new ApiError(502, `The upstream ${replica.url} answered HTTP ${res.status}: ${snippet(text) || "(empty body)"}`, "server_error", "upstream_error");
  }
}

function relayStream(c: Context, body: ReadableStream<Uint8Array>, replica: Replica, a: ReturnType<typeof attempt>, end: (failed: boolean) => void): Response {
  return sseResponse(
    c,
    async (sink) => {
      let failed = true;
      try {
        const events = body.pipeThrough(new TextDecoderStream()).pipeThrough(new EventSourceParserStream());
        for await (const ev of events) {
          if (ev.data === "[DONE]") {
            failed = false;
            return;
          }
          let data: { error?: unknown };
          try {
            data = JSON.parse(ev.data);
          } catch {
            throw new ApiError(502, `The upstream ${replica.url} sent an event that is not JSON: ${snippet(ev.data)}`, "server_error", "upstream_error");
          }
          if (typeof data?.error === "object" && data.error !== null) throw fromUpstream(data.error as UpstreamError, replica.url);
          sink.send(data);
        }
        throw new ApiError(502, `The upstream ${replica.url} ended the stream before [DONE]`, "server_error", "upstream_error");
      } catch (e) {
        if (e instanceof ApiError) throw e;
        throw new ApiError(502, `The upstream ${replica.url} failed mid-stream: ${(e as Error).message}`, "server_error", "upstream_error");
      } finally {
        a.done();
        end(failed && a.signal.reason !== CLIENT_GONE);
      }
    },
    a.abort,
  );
}
