// guard.ts - who may talk to the server from a browser. A web page can make the browser send
// requests to 127.0.0.1, and a DNS-rebinding page can make them look same-origin; so:
//   - the Host header must name this server: the listen address, localhost, an IP literal
//     (a rebinding attack needs a domain name), or an --allowed-host name (* = any);
//   - a request with an Origin header must come from an --cors-origin (* = any) or from the
//     server's own origin (http(s)://<Host>, the latter behind a TLS proxy); others get 403;
//   - CORS headers go out only for the --cors-origin origins (none by default).
import { isIP } from "node:net";
import type { MiddlewareHandler } from "hono";
import { cors } from "hono/cors";
import type { Config } from "../config.ts";
import { ApiError } from "./errors.ts";

/** The host name of a Host header, lower case, without port, brackets or trailing dot. */
export function hostName(host: string): string {
  const h = host.trim().toLowerCase();
  if (h.startsWith("[")) return h.slice(1, h.includes("]") ? h.indexOf("]") : undefined);
  return h.replace(/:\d*$/, "").replace(/\.$/, "");
}

export function guard(config: Pick<Config, "host" | "allowedHost" | "corsOrigin">): MiddlewareHandler {
  const anyHost = config.allowedHost.includes("*");
  // the listen address is an address, not a Host header: no port to strip (and "::1" has colons)
  const hosts = new Set(["localhost", config.host.toLowerCase(), ...config.allowedHost.map(hostName)]);
  const anyOrigin = config.corsOrigin.includes("*");
  // browsers send origins in lower case, without a trailing slash
  const origins = new Set(config.corsOrigin.map((o) => o.replace(/\/$/, "").toLowerCase()));
  const withCors =
    config.corsOrigin.length === 0
      ? null
      : cors({
          origin: anyOrigin ? "*" : [...origins],
          allowHeaders: ["Authorization", "Content-Type", "X-Request-Id", "OpenAI-Organization", "OpenAI-Project"],
          exposeHeaders: ["X-Request-Id"],
          maxAge: 600,
        });

  return async (c, next) => {
    // no Host at all is not a browser (browsers always send it), so not what this guards against
    const host = c.req.header("Host");
    if (host !== undefined && !anyHost) {
      const name = hostName(host);
      if (!hosts.has(name) && isIP(name) === 0) {
        throw new ApiError(403, `Host '${host.slice(0, 100)}' is not allowed: to serve under this name, start the server with --allowed-host ${name.slice(0, 100)} (or REDRAFTER_ALLOWED_HOST)`,
          "invalid_request_error", "host_not_allowed");
      }
    }
    const origin = c.req.header("Origin");
    if (origin !== undefined && !anyOrigin) {
      const o = origin.toLowerCase();
      const own = host?.toLowerCase();
      const same = own !== undefined && (o === `http://${own}` || o === `https://${own}`);
      if (!origins.has(o) && !same) {
        throw new ApiError(403, `Origin '${origin.slice(0, 100)}' is not allowed: to accept browser requests from it, start the server with --cors-origin ${origin.slice(0, 100)} (or REDRAFTER_CORS_ORIGIN)`,
          "invalid_request_error", "origin_not_allowed");
      }
    }
    return withCors ? withCors(c, next) : next();
  };
}
