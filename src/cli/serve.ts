// serve.ts - `redrafter serve`: settle the models (--model, repeatable; the first, the default,
// fetched on first use of the catalog's and loaded at start, the others on their first request
// within --models-memory-mib) and their drafters, listen at once (503 until the default is
// loaded), serve until SIGINT/SIGTERM, then stop accepting, let running generations finish for
// --shutdown-grace seconds, cancel the rest and free every engine. With --upstream and no
// --model it is a pure gateway: no local model is resolved, fetched or loaded.
import { statSync } from "node:fs";
import { configHelp, loadConfig, type Config } from "../config.ts";
import { Engine } from "../engine/engine.ts";
import { EnginePool, type ModelSpec } from "../engine/pool.ts";
import { setNativeLogQuiet } from "../ffi/symbols.ts";
import { estimateModelBytes, memoryBudgetBytes } from "../models/footprint.ts";
import { localModels, type LocalModel } from "../models/local.ts";
import { apiKeyOf } from "../server/api-key.ts";
import { createApp } from "../app.ts";
import { Gateway } from "../gateway/gateway.ts";
import { ServerState } from "../server/state.ts";
import { engineOptions } from "./args.ts";

const HELP = `usage: redrafter serve [--model NAME|PATH[=DRAFTER]]... [--drafter PATH] [options]

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

  const pure = config.upstreams.length > 0 && config.models.length === 0;
  const gateway = config.upstreams.length > 0 ? new Gateway(config.upstreams, !pure) : null;
  for (const p of gateway?.pools ?? []) log(`upstream '${p.pattern}' -> ${p.replicas.map((r) => r.url).join(", ")}`);
  const pool = pure ? null : await localPool(config);
  const state = new ServerState(config, pool);
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
    engine = pool && (await Promise.race([pool.start(), signalled.then(() => null)]));
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
  await pool?.close();
  await Promise.race([draining, new Promise((r) => setTimeout(r, FLUSH_MS))]);
  await server.stop(true);
}

/** The pool of the local models; the default is resolved (fetched) now and loads with start(). */
async function localPool(config: Config): Promise<EnginePool> {
  const models = await localModels(config, log);
  const beams = `beams ${config.beamWidth}x${config.beamLength}`;
  for (const [i, m] of models.entries()) {
    log(`model ${i === 0 ? await m.file() : m.id}${m.drafter ? `, drafter ${m.drafter} (${beams})` : ""}${i === 0 ? "" : ", loads on first use"}`);
  }
  const budget = memoryBudgetBytes(config.modelsMemoryMib);
  if (models.length > 1) log(`${models.length} models, within ${Math.round(budget / 2 ** 20)} MiB (--models-memory-mib)`);
  return new EnginePool(models.map((m) => modelSpec(m, config)), budget, log);
}

function modelSpec(m: LocalModel, config: Config): ModelSpec {
  const estimate = async () => {
    const file = await m.file();
    try {
      return estimateModelBytes(file, { drafter: m.drafter, nCtx: config.ctxSize, slots: config.slots, kvF32: config.kvF32 });
    } catch (e) {
      // the loader has the last word on the file; the budget makes do with its size
      log(`cannot estimate the memory of ${m.id} (${(e as Error).message}): counting its file sizes`);
      return statSync(file).size + (m.drafter ? statSync(m.drafter).size : 0);
    }
  };
  return {
    id: m.id,
    aliases: m.aliases,
    drafter: m.drafter,
    estimate,
    load: async () => Engine.load({ ...engineOptions(config, await m.file(), m.drafter), slots: config.slots, queueSize: config.queueSize, maxQueueWaitMs: config.maxQueueWait * 1000, log }),
  };
}
