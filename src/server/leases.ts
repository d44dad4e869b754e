// leases.ts - a request keeps the models it uses (the pool's leases, taken by ServerState.use)
// until its response has gone out: a JSON body is whole when the handler returns, an event
// stream once its last byte has been read or the client has gone. The pool never unloads a model
// under a lease, so a stream's last chunks (detokenized as they are sent) find their model there.
import type { Context, MiddlewareHandler } from "hono";

declare module "hono" {
  interface ContextVariableMap {
    leases: (() => void)[];
  }
}

/** Hold a lease until the request's response is out. */
export function holdLease(c: Context, release: () => void): void {
  c.var.leases.push(release);
}

/** The body, passed through unchanged, with `done` called once when it ends or is cancelled. */
function untilEnd(body: ReadableStream<Uint8Array>, done: () => void): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const r = await reader.read();
        if (!r.done) return controller.enqueue(r.value);
        controller.close();
      } catch (e) {
        controller.error(e);
      }
      done();
    },
    cancel(reason) {
      done();
      return reader.cancel(reason);
    },
  });
}

export function releaseLeases(): MiddlewareHandler {
  return async (c, next) => {
    const held: (() => void)[] = [];
    c.set("leases", held);
    const releaseAll = () => {
      for (const release of held.splice(0)) release();
    };
    try {
      await next();
    } catch (e) {
      releaseAll();
      throw e;
    }
    if (held.length === 0) return;
    const body = c.res.body;
    if (!body || !c.res.headers.get("Content-Type")?.startsWith("text/event-stream")) return releaseAll();
    c.res = new Response(untilEnd(body, releaseAll), c.res);
  };
}
