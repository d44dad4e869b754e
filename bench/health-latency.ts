// health-latency.ts - does generation stall the HTTP event loop? Starts `redrafter serve` (on
// a tiny random model, or --model), polls GET /health every 10 ms while idle and then while a
// long streamed generation runs, and prints p50/p99/max of both and their ratio.
// Usage: bun bench/health-latency.ts [--model PATH] [--drafter PATH] [--tokens N] [--threads N]
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";

const root = resolve(import.meta.dir, "..");
const { values: args } = parseArgs({
  options: {
    model: { type: "string" },
    drafter: { type: "string" },
    tokens: { type: "string", default: "400" },
    threads: { type: "string", default: "1" }, // ggml threads spin: more than the free cores stalls them
  },
});

const tmp = mkdtempSync(join(tmpdir(), "rd-bench-"));
let model = args.model;
let drafter = args.drafter;
if (!model) {
  // a tiny random llama and a random drafter for it: cheap, and the event loop is what we measure
  model = join(tmp, "tiny-model.gguf");
  drafter = join(tmp, "tiny-drafter.gguf");
  execFileSync(join(root, "native", "build", "make-tiny-model"), [model, "--layers", "4", "--embd", "256", "--vocab", "4096"], { stdio: "ignore" });
  execFileSync(process.execPath, [join(root, "src", "cli", "main.ts"), "drafter", "init", "--target", model, "--out", drafter], { stdio: "ignore" });
}

const server = spawn(process.execPath, [
  join(root, "src", "cli", "main.ts"), "serve", "--model", model, ...(drafter ? ["--drafter", drafter] : []),
  "--port", "0", "--threads", args.threads!, "--no-log-requests",
], { stdio: ["ignore", "ignore", "pipe"] });
let log = "";
const url = await new Promise<string>((res, rej) => {
  server.stderr!.on("data", (d: Buffer) => {
    log += d.toString();
    const m = /listening on (http:\/\/\S+)/.exec(log);
    if (m) res(m[1]!);
  });
  server.on("exit", (code) => rej(new Error(`server exited ${code}:\n${log}`)));
});

try {
  while ((await fetch(`${url}/health`).catch(() => null))?.status !== 200) await Bun.sleep(50);

  /** Poll /health every 10 ms until stop() says so; latencies in ms. */
  async function poll(stop: () => boolean, minSamples = 0): Promise<number[]> {
    const out: number[] = [];
    while (!stop() || out.length < minSamples) {
      const t0 = performance.now();
      const r = await fetch(`${url}/health`);
      await r.arrayBuffer();
      out.push(performance.now() - t0);
      await Bun.sleep(10);
    }
    return out;
  }

  const idle = await poll(() => true, 200);

  let done = false;
  let tokens = 0;
  const t0 = performance.now();
  const gen = (async () => {
    const r = await fetch(`${url}/v1/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        prompt: "Once upon a time", max_tokens: Number(args.tokens), ignore_eos: true, temperature: 0,
        stream: true, stream_options: { include_usage: true },
      }),
    });
    const events = (await r.text()).split("\n\n").filter((e) => e.startsWith("data: {"));
    tokens = JSON.parse(events.at(-1)!.slice(6)).usage.completion_tokens;
    done = true;
  })();
  const busy = await poll(() => done);
  await gen;
  const genS = (performance.now() - t0) / 1000;

  const q = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!;
  const row = (name: string, xs: number[]) =>
    `${name.padEnd(25)} n=${String(xs.length).padStart(5)}  p50 ${q(xs, 0.5).toFixed(2)} ms  p99 ${q(xs, 0.99).toFixed(2)} ms  max ${Math.max(...xs).toFixed(2)} ms`;
  console.log(`model ${model}${drafter ? ` + drafter ${drafter}` : ""}`);
  console.log(row("/health idle", idle));
  console.log(row("/health while generating", busy));
  console.log(`generation: ${tokens} tokens in ${genS.toFixed(2)} s (${(tokens / genS).toFixed(1)} tok/s)`);
  console.log(`p99 ratio busy/idle: ${(q(busy, 0.99) / q(idle, 0.99)).toFixed(2)}x; p99 under load ${q(busy, 0.99) < 50 ? "<" : ">="} 50 ms`);
} finally {
  server.kill("SIGTERM");
  rmSync(tmp, { recursive: true, force: true });
}
