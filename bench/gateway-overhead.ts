// gateway-overhead.ts - what a hop through `redrafter serve --upstream` costs, three ways:
// 1. per request: a `redrafter serve` on a tiny random model (or --model) and a pure gateway in
//    front of it; the same non-streamed request (max_tokens 1, greedy) alternately straight to
//    the upstream and through the gateway, one at a time: p50/p99 of both and the difference.
// 2. per streamed chunk: a canned SSE upstream in this process stamps each chunk with the time
//    it sent it; the delay until the chunk arrives here, straight and through the gateway (one
//    stream at a time, alternating): p50/p99 of both and the difference.
// 3. throughput: the canned upstream answering whole completions at once, --concurrency clients
//    for --seconds, straight and through the gateway: requests/s of both (the gateway's is the
//    most it sustains, as the upstream costs next to nothing).
// Usage: bun bench/gateway-overhead.ts [--model PATH] [--requests N] [--threads N] [--streams N]
//          [--chunks N] [--concurrency N] [--seconds S]
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { createParser } from "eventsource-parser";

const root = resolve(import.meta.dir, "..");
const { values: args } = parseArgs({
  options: {
    model: { type: "string" },
    requests: { type: "string", default: "200" },
    threads: { type: "string", default: "1" },
    streams: { type: "string", default: "40" }, // streams per side in part 2
    chunks: { type: "string", default: "50" }, // chunks per stream, 2 ms apart
    concurrency: { type: "string", default: "16" },
    seconds: { type: "string", default: "5" }, // per side in part 3
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

/** An OpenAI-compatible upstream that costs next to nothing: a whole completion at once, or
 *  max_tokens chunks 2 ms apart, each carrying `sent_at` (this process's clock) for part 2. */
function cannedUpstream() {
  const enc = new TextEncoder();
  return Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      if (new URL(req.url).pathname === "/v1/models") return Response.json({ object: "list", data: [{ id: "canned", object: "model" }] });
      const body = (await req.json()) as { stream?: boolean; max_tokens?: number };
      const id = "cmpl-canned";
      if (!body.stream) {
        return Response.json({ id, object: "text_completion", created: 0, model: "canned", choices: [{ index: 0, text: "x", finish_reason: "length", logprobs: null }],
          usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 } });
      }
      const n = body.max_tokens ?? 1;
      return new Response(new ReadableStream({
        async start(c) {
          for (let i = 0; i < n; i++) {
            const chunk = { id, object: "chat.completion.chunk", created: 0, model: "canned", sent_at: performance.now(),
              choices: [{ index: 0, delta: { content: "x" }, finish_reason: i === n - 1 ? "length" : null }] };
            c.enqueue(enc.encode(`data: ${JSON.stringify(chunk)}\n\n`));
            await Bun.sleep(2);
          }
          c.enqueue(enc.encode("data: [DONE]\n\n"));
          c.close();
        },
      }), { headers: { "Content-Type": "text/event-stream" } });
    },
  });
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
  const row = (name: string, xs: number[], unit = "ms") => console.log(`${name.padEnd(16)} p50 ${pct(xs, 0.5).toFixed(3)} ${unit}  p99 ${pct(xs, 0.99).toFixed(3)} ${unit}`);
  console.log(`per request (redrafter upstream, max_tokens 1, ${n} each):`);
  row("direct", direct);
  row("gateway", via);

  const canned = cannedUpstream();
  const fake = `http://127.0.0.1:${canned.port}`;
  const fakeGateway = await serve(["--upstream", `canned=${fake}/v1`]);

  // part 2: each chunk's delay from the upstream's send to our receipt
  const chunks = Number(args.chunks);
  const delays = async (url: string): Promise<number[]> => {
    const r = await fetch(`${url}/v1/chat/completions`, {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ model: "canned", messages: [{ role: "user", content: "hi" }], stream: true, max_tokens: chunks }),
    });
    const out: number[] = [];
    const parser = createParser({
      onEvent: (e) => {
        if (e.data !== "[DONE]") out.push(performance.now() - (JSON.parse(e.data) as { sent_at: number }).sent_at);
      },
    });
    const decoder = new TextDecoder();
    for await (const b of r.body!) parser.feed(decoder.decode(b, { stream: true }));
    if (out.length !== chunks) throw new Error(`${url}: ${out.length} of ${chunks} chunks`);
    return out;
  };
  for (let i = 0; i < 4; i++) await delays(i % 2 ? fakeGateway : fake); // warm-up
  const chunkDirect: number[] = [];
  const chunkVia: number[] = [];
  for (let i = 0; i < Number(args.streams); i++) {
    const order = i % 2 ? [[fake, chunkDirect], [fakeGateway, chunkVia]] as const : [[fakeGateway, chunkVia], [fake, chunkDirect]] as const;
    for (const [url, xs] of order) xs.push(...(await delays(url)));
  }
  console.log(`per streamed chunk (canned upstream, ${chunkDirect.length} chunks each):`);
  row("direct", chunkDirect);
  row("gateway", chunkVia);

  // part 3: whole answers at once, as many as the clients can get
  const rate = async (url: string): Promise<number> => {
    const body = JSON.stringify({ model: "canned", prompt: "hi", max_tokens: 1 });
    const until = performance.now() + Number(args.seconds) * 1000;
    let done = 0;
    await Promise.all(Array.from({ length: Number(args.concurrency) }, async () => {
      while (performance.now() < until) {
        const r = await fetch(`${url}/v1/completions`, { method: "POST", headers: { "Content-Type": "application/json" }, body });
        if (r.status !== 200) throw new Error(`${url}: HTTP ${r.status} ${await r.text()}`);
        await r.arrayBuffer();
        done++;
      }
    }));
    return done / Number(args.seconds);
  };
  await rate(fakeGateway); // warm-up, also of the gateway's connection pool
  const rps = { direct: await rate(fake), gateway: await rate(fakeGateway) };
  console.log(`throughput (canned upstream, concurrency ${args.concurrency}, ${args.seconds} s each):`);
  console.log(`${"direct".padEnd(16)} ${rps.direct.toFixed(0)} req/s`);
  console.log(`${"gateway".padEnd(16)} ${rps.gateway.toFixed(0)} req/s`);
  canned.stop(true);

  const summary = {
    requests: n,
    direct_p50_ms: pct(direct, 0.5), direct_p99_ms: pct(direct, 0.99),
    gateway_p50_ms: pct(via, 0.5), gateway_p99_ms: pct(via, 0.99),
    added_p50_ms: pct(via, 0.5) - pct(direct, 0.5), added_p99_ms: pct(via, 0.99) - pct(direct, 0.99),
    ratio_p50: pct(via, 0.5) / pct(direct, 0.5),
    chunks: chunkVia.length,
    chunk_direct_p50_ms: pct(chunkDirect, 0.5), chunk_direct_p99_ms: pct(chunkDirect, 0.99),
    chunk_gateway_p50_ms: pct(chunkVia, 0.5), chunk_gateway_p99_ms: pct(chunkVia, 0.99),
    chunk_added_p50_ms: pct(chunkVia, 0.5) - pct(chunkDirect, 0.5), chunk_added_p99_ms: pct(chunkVia, 0.99) - pct(chunkDirect, 0.99),
    concurrency: Number(args.concurrency), direct_rps: rps.direct, gateway_rps: rps.gateway, rps_ratio: rps.gateway / rps.direct,
  };
  console.log(JSON.stringify(summary));
} finally {
  for (const p of procs) p.kill("SIGTERM");
  rmSync(tmp, { recursive: true, force: true });
}
