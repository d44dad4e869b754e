// access-log.ts - one line per request on stderr, and its count and latency in the metrics
// (labelled by route pattern, so that labels stay bounded). What the client sent is escaped:
// a decoded path may hold newlines (%0a would forge log lines) or NULs.
import type { MiddlewareHandler } from "hono";
import type { RequestIdVariables } from "hono/request-id";
import { routePath } from "hono/route";
import type { ServerState } from "./state.ts";

const MAX_LOGGED = 200; // characters of a path in the log

/** `s` safe for a one-line log: control characters (C0, DEL, C1, line separators) and the
 *  backslash escaped, and capped at MAX_LOGGED characters. */
export function logSafe(s: string): string {
  const cut = s.length > MAX_LOGGED ? `${s.slice(0, MAX_LOGGED)}...` : s;
  return cut.replace(/[\\\x00-\x1f\x7f-\x9f\u2028\u2029]/g, (ch) =>
    ch === "\\" ? "\\\\" : `\\u${ch.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

export function accessLog(state: ServerState): MiddlewareHandler<{ Variables: RequestIdVariables }> {
  return async (c, next) => {
    const t0 = performance.now();
    state.metrics.inFlight++;
    try {
      await next();
    } finally {
      state.metrics.inFlight--;
      const ms = performance.now() - t0;
      const last = routePath(c, -1); // the handler that answered; a catch-all if none did
      const route = last.endsWith("*") ? "unmatched" : last;
      state.metrics.request(route, c.res.status, ms / 1000);
      if (state.config.logRequests) {
        console.error(`[http] ${logSafe(c.req.method)} ${logSafe(c.req.path)} ${c.res.status} ${ms.toFixed(1)}ms id=${c.get("requestId")}`);
      }
    }
  };
}
