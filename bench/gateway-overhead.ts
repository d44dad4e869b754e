// gateway-overhead.ts - what a hop through `redrafter serve --upstream` costs: starts a
// `redrafter serve` on a tiny random model (or --model) and a pure gateway in front of it, sends
// the same non-streamed request (max_tokens 1, greedy) alternately straight to the upstream and
// through the gateway, one at a time, and prints p50/p99 of both and the added latency.
// Usage: bun bench/gateway-overhead.ts [--model PATH] [--requests N] [--threads N]
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join, resolve } from "node:path";
import { parseArgs } from "node:util";

const root = resolve(import.meta.dir, "..");
const { values: args } = parseArgs({
  options: {
    model: { type: "string" },
    requests: { type: "string", default: "200" },
    threads: { type: "string", default: "1" },
  },
});

const tmp = mkdtempSync(join(tmpdir(), "rd-bench-"));
let model = args.model;
if (!model) {
  model = join(tmp, "tiny-model.gguf");
  execFileSync(join(root, "native", "build", "make-tiny-model"), [model], { stdio: "ignore" });
}

const procs: ChildProcess[] = [];
async function serve(flags: string[]): Promise<string> {
  const p = spawn(process.execPath, [join(root, "src", "cli", "main.ts"), "serve", "--port", "0", "--no-log-requests", ...flags], { stdio: ["ignore", "ignore", "pipe"] });
  procs.push(p);
  let log = "";
  const url = await new Promise<string>((res, rej) => {
    p.stderr!.on("data", (d: Buffer) => {
      log += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(log);
      if (m) res(m[1]!);
    });
    p.on("exit", (code) => rej(new Error(`server exited ${code}:\n${log}`)));
  });
  while ((await fetch(`${url}/health`).catch(() => null))?.status !== 200) await Bun.sleep(50);
  return url;
}

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!;

try {
  const upstream = await serve(["--model", model, "--threads", args.threads!, "--no-draft"]);
  const id = basename(model).replace(/\.gguf$/i, "");
  const gateway = await serve(["--upstream", `${id}=${upstream}/v1`]);
  const body = JSON.stringify({ model: id, prompt: "Once upon a time", max_tokens: 1, temperature: 0 });
  const once = async (url: string) => {
    const t0 = performance.now();
    const r = await fetch(`${url}/v1/completions`, { method: "POST", headers: { "Content-Type": "application/json" }, body });
    if (r.status !== 200) throw new Error(`${url}: HTTP ${r.status} ${await r.text()}`);
    await r.arrayBuffer();
    return performance.now() - t0;
  };
  for (let i = 0; i < 20; i++) await once(i % 2 ? gateway : upstream); // warm-up
  const direct: number[] = [];
  const via: number[] = [];
  const n = Number(args.requests);
  // alternate (and which goes first) so both see the same machine state
  for (let i = 0; i < n; i++) {
    if (i % 2) {
      direct.push(await once(upstream));
      via.push(await once(gateway));
    } else {
      via.push(await once(gateway));
      direct.push(await once(upstream));
    }
  }
  const row = (name: string, xs: number[]) => console.log(`${name.padEnd(9)} p50 ${pct(xs, 0.5).toFixed(2)} ms  p99 ${pct(xs, 0.99).toFixed(2)} ms`);
  row("direct", direct);
  row("gateway", via);
  const summary = {
    requests: n,
    direct_p50_ms: pct(direct, 0.5), direct_p99_ms: pct(direct, 0.99),
    gateway_p50_ms: pct(via, 0.5), gateway_p99_ms: pct(via, 0.99),
    added_p50_ms: pct(via, 0.5) - pct(direct, 0.5), added_p99_ms: pct(via, 0.99) - pct(direct, 0.99),
    ratio_p50: pct(via, 0.5) / pct(direct, 0.5),
  };
  console.log(JSON.stringify(summary));
} finally {
  for (const p of procs) p.kill("SIGTERM");
  rmSync(tmp, { recursive: true, force: true });
}
