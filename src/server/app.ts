// app.ts - the Hono app: middleware (request ids, CORS, request log + metrics, API key, body
// limit, 405/404) and the routes, one file per endpoint under routes/. The engine may still be
// loading (a Promise) or absent (null): routes that need it answer 503 until it is there.
import { createHash, timingSafeEqual } from "node:crypto";
import { Hono, type MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { cors } from "hono/cors";
import { methodNotAllowed } from "hono/method-not-allowed";
import { requestId, type RequestIdVariables } from "hono/request-id";
import { routePath } from "hono/route";
import { chatCompletionsRoutes } from "../../routes/chat-completions.ts";
import { completionsRoutes } from "../../routes/completions.ts";
import { healthRoutes } from "../../routes/health.ts";
import { metricsRoutes } from "../../routes/metrics.ts";
import { modelsRoutes } from "../../routes/models.ts";
import type { Config } from "../config.ts";
import type { Engine } from "../engine/engine.ts";
import { ApiError, errorResponse, onError } from "./errors.ts";
import { ServerState } from "./state.ts";

type Env = { Variables: RequestIdVariables };

/** Logs one line per request and counts it; the route pattern keeps metric labels bounded. */
function observe(state: ServerState): MiddlewareHandler<Env> {
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
        console.error(`[http] ${c.req.method} ${c.req.path} ${c.res.status} ${ms.toFixed(1)}ms id=${c.get("requestId")}`);
      }
    }
  };
}

const digest = (s: string) => createHash("sha256").update(s).digest();

/** `Authorization: Bearer KEY`, compared in constant time. */
function apiKey(key: string): MiddlewareHandler {
  const want = digest(key);
  return async (c, next) => {
    const m = /^Bearer\s+(.+)$/i.exec(c.req.header("Authorization") ?? "");
    if (!m) throw new ApiError(401, "Missing API key: send it as 'Authorization: Bearer <key>'", "invalid_request_error", "invalid_api_key");
    if (!timingSafeEqual(digest(m[1]!.trim()), want)) {
      throw new ApiError(401, "Incorrect API key provided", "invalid_request_error", "invalid_api_key");
    }
    await next();
  };
}

export function createApp(engine: Engine | Promise<Engine> | null, config: Config): Hono<Env> {
  const state = new ServerState(config, engine);
  const app = new Hono<Env>();
  app.use(requestId());
  app.use(
    cors({
      origin: config.corsOrigin.includes("*") ? "*" : config.corsOrigin,
      allowHeaders: ["Authorization", "Content-Type", "X-Request-Id", "OpenAI-Organization", "OpenAI-Project"],
      exposeHeaders: ["X-Request-Id"],
      maxAge: 600,
    }),
  );
  app.use(observe(state));
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
  if (config.apiKey) app.use("/v1/*", apiKey(config.apiKey));
  app.use(
    "/v1/*",
    bodyLimit({
      maxSize: config.maxBody,
      onError: () => {
        throw new ApiError(413, `Request body too large (limit ${config.maxBody} bytes)`, "invalid_request_error", "request_too_large");
      },
    }),
  );

  app.route("/", healthRoutes(state));
  app.route("/", metricsRoutes(state));
  app.route("/v1", modelsRoutes(state));
  app.route("/v1", chatCompletionsRoutes(state));
  app.route("/v1", completionsRoutes(state));

  app.notFound((c) =>
    errorResponse(c, new ApiError(404, `Unknown request URL: ${c.req.method} ${c.req.path}`, "invalid_request_error", "unknown_url")),
  );
  app.onError(onError);
  return app;
}
