// app.ts - the Hono app, the composition root of the gateway: it sits above routes/ and
// src/server/ and wires them, so that neither imports the other's wiring. Middleware (request
// ids, request log + metrics, Host/Origin guard and CORS, 503 while shutting down, 405, API key,
// the models a request uses held until its response is out) comes from src/server/, the routes
// from routes/, one file per endpoint. Body limits (size, time, Content-Type) apply where a route
// reads a body (validate.ts). The default model may still be loading: routes that need it answer
// 503 until it is there; the others load on first use. With upstreams (src/gateway/), a request
// whose model one of them serves, and no local one, is forwarded before the local route reads
// it, and a pure gateway (no local model) has no pool.
import { Hono } from "hono";
import { methodNotAllowed } from "hono/method-not-allowed";
import { requestId, type RequestIdVariables } from "hono/request-id";
import { chatCompletionsRoutes } from "../routes/chat-completions.ts";
import { completionsRoutes } from "../routes/completions.ts";
import { detokenizeRoutes } from "../routes/detokenize.ts";
import { embeddingsRoutes } from "../routes/embeddings.ts";
import { healthRoutes } from "../routes/health.ts";
import { metricsRoutes } from "../routes/metrics.ts";
import { modelsRoutes } from "../routes/models.ts";
import { tokenizeRoutes } from "../routes/tokenize.ts";
import { accessLog } from "./server/access-log.ts";
import type { Gateway } from "./gateway/gateway.ts";
import { requireApiKey } from "./server/api-key.ts";
import { ApiError, errorResponse, onError, shuttingDown } from "./server/errors.ts";
import { guard } from "./server/guard.ts";
import { releaseLeases } from "./server/leases.ts";
import type { ServerState } from "./server/state.ts";

type Env = { Variables: RequestIdVariables };

export function createApp(state: ServerState, gateway: Gateway | null = null): Hono<Env> {
  const config = state.config;
  const app = new Hono<Env>();
  app.use(requestId());
  app.use(accessLog(state));
  app.use(guard(config));
  app.use(async (c, next) => {
    if (state.shuttingDown) throw shuttingDown();
    c.set("state", state);
    await next();
  });
  app.use(releaseLeases());
  app.use(
    methodNotAllowed({
      app,
      onMethodNotAllowed: (c, methods) => {
        const err = new ApiError(405, `Method ${c.req.method} is not allowed on ${c.req.path} (allowed: ${methods.join(", ")})`, "invalid_request_error", "method_not_allowed");
        c.header("Allow", methods.join(", "));
        return errorResponse(c, err);
      },
    }),
  );
  if (config.apiKey) {
    app.use("/v1/*", requireApiKey(config.apiKey));
    app.use("/tokenize", requireApiKey(config.apiKey));
    app.use("/detokenize", requireApiKey(config.apiKey));
  }

  if (gateway) {
    const localIds = () => state.pool?.ids() ?? [];
    for (const path of ["/chat/completions", "/completions", "/embeddings"]) app.post(`/v1${path}`, gateway.proxy(path, localIds));
  }

  app.route("/", healthRoutes(state, gateway));
  app.route("/", metricsRoutes(state, gateway));
  app.route("/v1", modelsRoutes(state, gateway));
  app.route("/v1", chatCompletionsRoutes(state));
  app.route("/v1", completionsRoutes(state));
  app.route("/v1", embeddingsRoutes(state));
  app.route("/", tokenizeRoutes(state));
  app.route("/", detokenizeRoutes(state));

  app.notFound((c) =>
    errorResponse(c, new ApiError(404, `Unknown request URL: ${c.req.method} ${c.req.path}`, "invalid_request_error", "unknown_url")),
  );
  app.onError(onError);
  return app;
}
