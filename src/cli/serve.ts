// serve.ts - `redrafter serve`: resolve the model (fetching the default one on first use) and
// its drafter, listen at once (503 until the model is loaded), serve until SIGINT/SIGTERM,
// then stop accepting, let running generations finish for --shutdown-grace seconds, cancel the
// rest and free the engine. With --upstream and no --model it is a pure gateway: no local model
// is resolved, fetched or loaded.
import { configHelp, loadConfig, type Config } from "../config.ts";
import { Engine } from "../engine/engine.ts";
import { setNativeLogQuiet } from "../ffi/symbols.ts";
import { basename } from "node:path";
import { loadCatalog, modelForFile } from "../models/catalog.ts";
import { resolveDrafter, resolveModel, shippedDrafterFor } from "../models/resolve.ts";
import { apiKeyOf } from "../server/api-key.ts";
import { createApp } from "../app.ts";
import { Gateway } from "../gateway/gateway.ts";
import { ServerState } from "../server/state.ts";
import { engineOptions } from "./args.ts";

const HELP = `usage: redrafter serve [--model PATH|hf:U/R/F] [--drafter PATH] [options]

OpenAI-compatible server (/v1/chat/completions, /v1/completions, /v1/models, /health, /metrics).
Settings come from flags, then REDRAFTER_* env vars, then --config FILE, then defaults.

${configHelp()}`;

const log = (msg: string) => console.error(`[serve] ${msg}`);

/** After the generations have ended, how long their responses may take to reach the clients. */
const FLUSH_MS = 5_000;

export async function runServe(argv: string[]): Promise<void> {
  const loaded = loadConfig(argv);
  if (loaded.help) {
    console.log(HELP);
    return;
  }
  const config = { ...loaded.config, apiKey: apiKeyOf(loaded.config) };
  setNativeLogQuiet(!config.verbose);

  const pure = config.upstreams.length > 0 && config.model === null;
  const gateway = config.upstreams.length > 0 ? new Gateway(config.upstreams, !pure) : null;
  for (const p of gateway?.pools ?? []) log(`upstream '${p.pattern}' -> ${p.replicas.map((r) => r.url).join(", ")}`);
  const loading = pure ? null : (await loadLocal(config)).engine;
  const state = new ServerState(config, loading);
  const app = createApp(state, gateway);
  // a connection idle this long is closed; a generation lifts it for its own request (respond.ts)
  const server = Bun.serve({ hostname: config.host, port: config.port, fetch: app.fetch, idleTimeout: config.headerTimeout });
  gateway?.startHealthChecks();
  log(`listening on http://${config.host.includes(":") ? `[${config.host}]` : config.host}:${server.port}`);

  // the first signal starts the shutdown, a second one cuts its grace period short
  let signals = 0;
  const signalled = new Promise<string>((resolve) => {
    const on = (sig: string) => {
      if (++signals === 1) resolve(sig);
      else state.lifetimes.endGrace();
    };
    process.on("SIGINT", () => on("SIGINT"));
    process.on("SIGTERM", () => on("SIGTERM"));
  });

  let engine: Engine | null;
  try {
    engine = loading && (await Promise.race([loading, signalled.then(() => null)]));
  } catch (e) {
    await server.stop(true);
    throw e;
  }
  if (engine) {
    const i = engine.info;
    log(
      `ready: model '${i.id}', ctx ${i.nCtx}, ${config.slots} slot(s) of ${engine.threads} thread(s), queue ${config.queueSize}, ` +
        `${i.drafter ? `ReDrafter ${i.beamWidth}x${i.beamLength}` : "no speculative decoding"}, flash attention ${i.flashAttn ? "on" : "off"}` +
        `${config.apiKey ? ", API key required" : ""}`,
    );
  }

  const sig = await signalled;
  log(`${sig}: shutting down${engine ? ` (running generations may finish for ${config.shutdownGrace} s)` : pure ? "" : " before the model loaded"}`);
  const draining = server.stop(); // no new connections; idle ones close, busy ones when their response ends
  await state.shutdown(config.shutdownGrace);
  gateway?.close();
  await engine?.close();
  await Promise.race([draining, new Promise((r) => setTimeout(r, FLUSH_MS))]);
  await server.stop(true);
}

/** Resolve the model (fetching the default one on first use) and its drafter; the engine loads
 *  in the background (the returned promise inside the object). */
async function loadLocal(config: Config): Promise<{ engine: Promise<Engine> }> {
  const model = await resolveModel(config.model, log);
  // a catalog model also answers to its aliases ("smollm2" for smollm2-135m-instruct-q4_1)
  const entry = modelForFile(loadCatalog(), basename(model));
  if (entry) config.alias = [...config.alias, ...entry.aliases.filter((a) => !config.alias.includes(a))];
  let drafter: string | null = null;
  if (!config.draft) {
    log("speculative decoding off (--no-draft): plain autoregressive decoding");
  } else if (config.drafter === false) {
    log("no drafter (--no-drafter): only the context copy drafts");
  } else if (config.drafter !== null) {
    drafter = resolveDrafter(config.drafter);
  } else {
    drafter = shippedDrafterFor(model);
    if (!drafter) log(`no drafter for ${model} (pass --drafter PATH): serving without speculative decoding`);
  }
  log(`model ${model}${drafter ? `, drafter ${drafter} (beams ${config.beamWidth}x${config.beamLength})` : ""}`);
  return { engine: Engine.load({ ...engineOptions(config, model, drafter), slots: config.slots, queueSize: config.queueSize, log }) };
}
