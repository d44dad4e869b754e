// serve.ts - `redrafter serve`: resolve the model (fetching the default one on first use) and
// its drafter, listen at once (503 until the model is loaded), serve until SIGINT/SIGTERM,
// then stop accepting, finish or cancel running generations and free the engine.
import { configHelp, loadConfig } from "../config.ts";
import { Engine } from "../engine/engine.ts";
import { setNativeLogQuiet } from "../ffi/symbols.ts";
import { resolveDrafter, resolveModel, shippedDrafterFor } from "../models/resolve.ts";
import { createApp } from "../server/app.ts";

const HELP = `usage: redrafter serve [--model PATH|hf:U/R/F] [--drafter PATH] [options]

OpenAI-compatible server (/v1/chat/completions, /v1/completions, /v1/models, /health, /metrics).
Settings come from flags, then REDRAFTER_* env vars, then --config FILE, then defaults.

${configHelp()}`;

const log = (msg: string) => console.error(`[serve] ${msg}`);

export async function runServe(argv: string[]): Promise<void> {
  const { config, help } = loadConfig(argv);
  if (help) {
    console.log(HELP);
    return;
  }
  setNativeLogQuiet(!config.verbose);

  const model = await resolveModel(config.model, log);
  let drafter: string | null = null;
  if (!config.draft) {
    log("speculative decoding off (--no-draft): plain autoregressive decoding");
  } else if (config.drafter !== null) {
    drafter = resolveDrafter(config.drafter);
  } else {
    drafter = shippedDrafterFor(model);
    if (!drafter) log(`no drafter for ${model} (pass --drafter PATH): serving without speculative decoding`);
  }
  log(`model ${model}${drafter ? `, drafter ${drafter} (beams ${config.beamWidth}x${config.beamLength})` : ""}`);

  const loading = Engine.load({
    model, drafter, nCtx: config.ctxSize, beamWidth: config.beamWidth, beamLength: config.beamLength,
    nGpuLayers: config.gpuLayers, device: config.device, threads: config.threads, flashAttn: config.flashAttn,
    kvF32: config.kvF32, adaptive: config.adaptive, lazyHead: config.lazyHead, lookup: config.lookup, slots: config.slots, queueSize: config.queueSize,
  });
  const app = createApp(loading, config);
  // idleTimeout 0: a long prefill or a slow stream must not be cut by Bun's 10 s default
  const server = Bun.serve({ hostname: config.host, port: config.port, fetch: app.fetch, idleTimeout: 0 });
  log(`listening on http://${config.host.includes(":") ? `[${config.host}]` : config.host}:${server.port}`);

  let engine: Engine;
  try {
    engine = await loading;
  } catch (e) {
    await server.stop(true);
    throw e;
  }
  const i = engine.info;
  log(
    `ready: model '${i.id}', ctx ${i.nCtx}, ${config.slots} slot(s), queue ${config.queueSize}, ` +
      `${i.drafter ? `ReDrafter ${i.beamWidth}x${i.beamLength}` : "no speculative decoding"}, flash attention ${i.flashAttn ? "on" : "off"}` +
      `${config.apiKey ? ", API key required" : ""}`,
  );

  await new Promise<void>((resolve) => {
    const stop = (sig: string) => {
      log(`${sig}: shutting down`);
      resolve();
    };
    process.once("SIGINT", () => stop("SIGINT"));
    process.once("SIGTERM", () => stop("SIGTERM"));
  });
  const draining = server.stop(); // no new connections; running streams end as the engine cancels them
  await engine.close();
  await draining;
}
