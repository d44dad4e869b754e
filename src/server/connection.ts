// connection.ts - the one piece of the HTTP layer that speaks to Bun's server directly: the idle
// timeout of the connection a request came on. Under Bun.serve, Hono's c.env is the Server;
// elsewhere (app.request() in tests) there is no connection and these are no-ops.
import type { Context } from "hono";

interface BunServer {
  timeout(request: Request, seconds: number): void;
}

/** Close the request's connection after `seconds` without traffic (0 = never). */
export function setIdleTimeout(c: Context, seconds: number): void {
  const server = c.env as Partial<BunServer> | undefined;
  server?.timeout?.(c.req.raw, seconds);
}
