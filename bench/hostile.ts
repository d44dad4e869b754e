// hostile.ts - does `redrafter serve` survive hostile clients? Starts its own server and sends
// it (1) thousands of generated hostile requests: wrong types, extreme values, grammar bombs,
// broken HTTP framing, foreign origins, slow bodies; (2) a load of concurrent streams, a quarter
// of them hung up part-way; (3) corrupted copies of the GGUF files to `serve` and `generate`.
// Throughout it polls /health and the server's RSS; it prints a table and exits 0 only when no
// request crashed, hung or got a 5xx, every error body was OpenAI-shaped, the RSS came back and
// every slot is free again. Categories and their cases: bench/hostile/cases.ts.
// Over 300 lines because it is one program: its phases, the supervisor's end state and the report share one Settings.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { num, parse, UsageError } from "../src/cli/args.ts";
import { type Case, type CaseContext, CATEGORIES, fuzzCases, loadCase, request, warmupCases } from "./hostile/cases.ts";
import { corruptPhase, type GgufFile } from "./hostile/corrupt.ts";
import { CORRUPTIONS, gguf } from "./hostile/gguf.ts";
import { type Death, type Failure, type Kind, PhaseResult, type Tally } from "./hostile/results.ts";
import { Rng } from "./hostile/rng.ts";
import { describeExit, killAll, type RedrafterProcess } from "./hostile/server.ts";
import { type Memory, Monitor, settledMemory, startServe, Supervisor } from "./hostile/supervisor.ts";
import { exchange } from "./hostile/wire.ts";

const root = resolve(import.meta.dir, "..");

const HELP = `usage: bun bench/hostile.ts [options] [-- extra serve flags]

Starts \`redrafter serve --slots 2 --queue-size 8 --threads 1 --body-timeout 3 --header-timeout 3
--no-log-requests [extra serve flags]\` and attacks it. Exit 0 only if nothing crashed, hung, got a
5xx, broke an expectation or left a non-OpenAI error body, the RSS ends within --rss-growth of where
it started, and all slots are free.

  --model PATH        target GGUF (default: the tests' tiny random model, made in a temp dir)
  --drafter PATH      drafter GGUF (default: a random one from \`redrafter drafter init\`)
  --no-drafter        no drafter: serve falls back to a shipped one if any (add -- --no-draft for none)
  --phases LIST       fuzz,load,corrupt (default: all three)
  --requests N        fuzz requests (default 2000)
  --only LIST         fuzz only these categories (comma-separated):
${CATEGORIES.map((c) => c.name).join(", ").replace(/(.{1,70})(?:, |$)/g, "                      $1,\n").slice(0, -2)}
  --concurrency N     fuzz requests in flight (default 8)
  --duration S        load phase seconds (default 120)
  --clients N         concurrent streaming clients in the load phase (default 32)
  --corrupt N         corrupted GGUF copies, each run by serve and by generate (default: every
                      kind of damage twice per file)
  --seed S            requests and corruptions (default 1)
  --timeout S         a request not answered in S seconds is a hang (default 30)
  --warmup S          seconds of the load phase's traffic before the RSS is first read (default 30)
  --warmup-requests N fuzz requests of another seed sent before the RSS is first read (default 500)
  --settle S          seconds of light traffic over which the RSS is read, before and after
                      the phases (the lowest sample; default 10)
  --rss-growth PCT    largest RSS growth from before to after the phases (default 10)
  --max-rss MIB       kill the server above this RSS, as a crash (default 4096)
  --examples N        failing requests shown per category (default 3)
  --keep-going        after a server crash restart it, pin the request that crashes it alone,
                      and go on (default: stop the server phases at the first crash)
  --trace             one line per request on stderr: id, category, status, ms, summary
  --json              print the report as JSON on stdout (the table goes to stderr)`;

const options = {
  model: { type: "string" },
  drafter: { type: "string" },
  "no-drafter": { type: "boolean" },
  phases: { type: "string" },
  only: { type: "string" },
  requests: { type: "string" },
  concurrency: { type: "string" },
  duration: { type: "string" },
  clients: { type: "string" },
  corrupt: { type: "string" },
  seed: { type: "string" },
  timeout: { type: "string" },
  settle: { type: "string" },
  warmup: { type: "string" },
  "warmup-requests": { type: "string" },
  "max-rss": { type: "string" },
  "rss-growth": { type: "string" },
  examples: { type: "string" },
  "keep-going": { type: "boolean" },
  trace: { type: "boolean" },
  json: { type: "boolean" },
} as const;

const PHASES = ["fuzz", "load", "corrupt"] as const;
type PhaseName = (typeof PHASES)[number];

const log = (msg: string) => console.error(`[hostile] ${msg}`);
const mib = (kib: number) => `${(kib / 1024).toFixed(1)} MiB`;

/** The last value of a serve flag among args (`--name V` or `--name=V`). */
function flagValue(args: string[], name: string): string | undefined {
  let v: string | undefined;
  for (const [i, a] of args.entries()) {
    if (a === `--${name}`) v = args[i + 1];
    else if (a.startsWith(`--${name}=`)) v = a.slice(name.length + 3);
  }
  return v;
}

// ---- phases ----

async function fuzzPhase(sup: Supervisor, cases: Case[], concurrency: number, name = "fuzz"): Promise<PhaseResult> {
  sup.phase = name;
  sup.replay = true;
  const r = new PhaseResult(name);
  let next = 0;
  let stopped = false;
  let reported = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (!stopped && next < cases.length) {
      const c = cases[next++]!;
      const sent = await sup.send(c);
      if (!sent) {
        stopped = true;
        break;
      }
      r.record(c.category, sent.key, sent.findings, c.summary);
      if (r.total.tried - reported >= cases.length / 10) {
        reported = r.total.tried;
        log(`${name} ${reported}/${cases.length}, ${r.failures.length} finding(s)`);
      }
    }
  }));
  if (!stopped && sup.server.exit) await sup.live(); // a death at the very end: restart and replay now
  r.attribute(sup.deaths.filter((d) => d.phase === name));
  if (stopped) r.skipped = `stopped after ${r.total.tried} of ${cases.length}: the server crashed`;
  return r;
}

async function loadPhase(sup: Supervisor, name: string, ctx: CaseContext, clients: number, durationS: number, seed: number): Promise<PhaseResult> {
  sup.phase = name;
  sup.replay = false;
  const r = new PhaseResult(name);
  const until = Date.now() + durationS * 1000;
  let id = 0;
  let completed = 0;
  let hungUp = 0;
  let stopped = false;
  await Promise.all(Array.from({ length: clients }, async (_, k) => {
    const rng = new Rng(seed, 1000 + k);
    while (!stopped && Date.now() < until) {
      const c = loadCase(id++, rng, ctx);
      const sent = await sup.send(c);
      if (!sent) {
        stopped = true;
        break;
      }
      r.record(c.category, sent.key, sent.findings, c.summary);
      if (sent.x.end === "stopped") hungUp++;
      else if (sent.key === "200" && sent.findings.length === 0) completed++;
      // a refused client retries after a pause, as OpenAI's SDKs do
      if (sent.key === "429") await Bun.sleep(rng.int(50, 250));
    }
  }));
  r.attribute(sup.deaths.filter((d) => d.phase === name));
  r.notes.push(`${completed} streams read to [DONE], ${hungUp} hung up part-way, ${r.total.statuses.get("429") ?? 0} refused with 429`);
  if (stopped) r.skipped = "stopped: the server crashed";
  return r;
}

// ---- report ----

function histogram(m: Map<string, number>, max = 8): string {
  const sorted = [...m].sort((a, b) => b[1] - a[1]);
  const shown = sorted.slice(0, max).sort((a, b) => a[0].localeCompare(b[0], "en", { numeric: true }));
  return shown.map(([k, v]) => `${k}:${v}`).join(" ") + (sorted.length > max ? " ..." : "");
}

function table(rows: string[][], header: string[]): string {
  const all = [header, ...rows];
  const w = header.map((_, i) => Math.max(...all.map((r) => r[i]!.length)));
  // numbers right-aligned, text left
  const fmt = (r: string[]) => r.map((c, i) => (/^\d+$/.test(c) ? c.padStart(w[i]!) : c.padEnd(w[i]!))).join("  ").trimEnd();
  return all.map(fmt).join("\n");
}

const row = (name: string, t: Tally) => [name, String(t.tried), histogram(t.statuses), String(t.count("5xx")), String(t.count("crash")),
  String(t.count("hang")), String(t.count("bad-body")), String(t.other())];
const HEADER = ["phase", "tried", "statuses", "5xx", "crashes", "hangs", "bad-bodies", "other"];

/** Up to n failures of a category, one of each kind first. */
function examples(failures: Failure[], n: number): Failure[] {
  const byKind = new Map<Kind, Failure[]>();
  for (const f of failures) byKind.set(f.kind, [...(byKind.get(f.kind) ?? []), f]);
  const out: Failure[] = [];
  for (let i = 0; out.length < n && [...byKind.values()].some((l) => l.length > i); i++) {
    for (const l of byKind.values()) if (l[i] && out.length < n) out.push(l[i]!);
  }
  return out;
}

const percentile = (xs: number[], p: number) => (xs.length ? [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]! : NaN);

/** How the server ended the run. */
interface ServerEnd {
  rss: { before: Memory; after: Memory; change_pct: number | null; peak_kib: number; settle_s: number } | null;
  slots: { slots: number; busy: number; queue: number } | null; // /health after the settle
  shutdown: { exit: string; ms: number } | null; // SIGTERM at the end
  health: { polls: number; p50_ms: number; p99_ms: number; max_ms: number; unanswered: string[]; slowest: Monitor["slowest"] };
}

interface Health {
  slots: number;
  slots_busy: number;
  queue_depth: number;
}

async function health(s: RedrafterProcess): Promise<Health | null> {
  const x = await exchange(request({ path: "/health" })(s), { host: s.host, port: s.port, timeoutMs: 5000 });
  try {
    return JSON.parse(x.body.toString()) as Health;
  } catch {
    return null;
  }
}

interface Settings {
  serveArgs: string[];
  ctx: CaseContext;
  phases: Set<string>;
  only: string[] | null;
  requests: number;
  concurrency: number;
  duration: number;
  clients: number;
  seed: number;
  settleS: number;
  warmupS: number;
  warmupRequests: number;
  maxRssKiB: number;
  keepGoing: boolean;
  trace: boolean;
}

/** The fuzz and load phases on one server (restarted after crashes with --keep-going), then its
 *  end state: slots free, memory back, a clean exit on SIGTERM. */
async function serverPhases(o: Settings): Promise<{ results: PhaseResult[]; end: ServerEnd; deaths: Death[] }> {
  const start = () => startServe(root, o.serveArgs);
  const sup = new Supervisor(await start(), { start, keepGoing: o.keepGoing, trace: o.trace, log });
  log(`server pid ${sup.server.pid} on ${sup.server.host}:${sup.server.port}; warming up`);
  // Warm-up phases run before the RSS baseline but are attacks like any other: their findings
  // are in the table and the verdict.
  const results: PhaseResult[] = [];
  const firstUse = new PhaseResult("warm-up first use");
  for (const wave of warmupCases(o.ctx, new Rng(o.seed, 3), o.concurrency)) {
    await Promise.all(wave.map(async (c) => {
      const sent = await sup.send(c);
      if (sent) firstUse.record(c.category, sent.key, sent.findings, c.summary);
    }));
  }
  results.push(firstUse);
  if (o.phases.has("fuzz") && o.warmupRequests > 0) {
    // every kind of request once before the baseline: first use (compiled code, caches, pools)
    // is not growth; what 2,000 more of them add is
    results.push(await fuzzPhase(sup, fuzzCases(o.warmupRequests, new Rng(o.seed + 7, 1), o.ctx, o.only), o.concurrency, "warm-up fuzz"));
  }
  if (o.phases.has("load") && o.warmupS > 0) {
    // the load's working set (connections, buffers, heap) belongs in the baseline; what the
    // whole phase adds on top of it is what counts
    results.push(await loadPhase(sup, "warm-up load", o.ctx, o.clients, Math.min(o.warmupS, o.duration), o.seed + 1));
  }
  const first = sup.server;
  const before = await settledMemory(first, o.settleS);
  const monitor = new Monitor();
  monitor.start(sup, o.maxRssKiB);

  if (o.phases.has("fuzz")) {
    const cases = fuzzCases(o.requests, new Rng(o.seed, 1), o.ctx, o.only);
    log(`fuzz: ${cases.length} requests, ${o.concurrency} at a time`);
    results.push(await fuzzPhase(sup, cases, o.concurrency));
  }
  if (o.phases.has("load")) {
    if (sup.server.exit && !o.keepGoing) {
      const r = new PhaseResult("load");
      r.skipped = "skipped: the server crashed earlier";
      results.push(r);
    } else {
      log(`load: ${o.clients} streaming clients for ${o.duration} s`);
      results.push(await loadPhase(sup, "load", o.ctx, o.clients, o.duration, o.seed));
    }
  }
  await monitor.stop();

  const s = sup.server;
  const end: ServerEnd = { rss: null, slots: null, shutdown: null, health: {
    polls: monitor.latencies.length, p50_ms: percentile(monitor.latencies, 0.5), p99_ms: percentile(monitor.latencies, 0.99),
    max_ms: monitor.latencies.length ? Math.max(...monitor.latencies) : NaN, unanswered: monitor.misses, slowest: monitor.slowest,
  } };
  if (!s.exit) {
    log(`settling: up to 60 s for idle slots, then ${o.settleS} s of light traffic`);
    const until = Date.now() + 60_000;
    let h = await health(s);
    while ((h?.slots_busy !== 0 || h?.queue_depth !== 0) && Date.now() < until) {
      await Bun.sleep(250);
      h = await health(s);
    }
    const after = await settledMemory(s, o.settleS);
    h = await health(s);
    if (h) end.slots = { slots: h.slots, busy: h.slots_busy, queue: h.queue_depth };
    end.rss = {
      before, after, change_pct: s === first ? (after.rss / before.rss - 1) * 100 : null,
      peak_kib: monitor.peakRssKiB, settle_s: o.settleS,
    };
  }
  const shut = await sup.close();
  if (shut) end.shutdown = { exit: shut.killed ? "no exit (killed)" : describeExit(shut.exit), ms: Math.round(shut.ms) };
  return { results, end, deaths: sup.deaths };
}

/** What is wrong with the server's end state (empty: nothing). */
function endVerdict(end: ServerEnd, rssGrowth: number): string[] {
  const out: string[] = [];
  if (!end.shutdown) out.push("the server is not running at the end");
  else if (end.shutdown.exit !== "exit 0") out.push(`SIGTERM ended the server with ${end.shutdown.exit}`);
  if (end.shutdown && (!end.slots || end.slots.busy !== 0 || end.slots.queue !== 0)) {
    out.push(`slots not free after the settle (busy ${end.slots?.busy}, queue ${end.slots?.queue})`);
  }
  const change = end.rss?.change_pct;
  if (change !== null && change !== undefined && change > rssGrowth) out.push(`RSS grew ${change.toFixed(1)}% (limit ${rssGrowth}%)`);
  if (end.health.unanswered.length) out.push(`/health unanswered ${end.health.unanswered.length} time(s)`);
  return out;
}

function printReport(say: (s: string) => void, results: PhaseResult[], deaths: Death[], end: ServerEnd | null, nExamples: number): void {
  say("");
  say(table(results.map((r) => row(r.name, r.total)), HEADER));
  for (const r of results) {
    if (r.skipped) say(`  ${r.name}: ${r.skipped}`);
    for (const n of r.notes) say(`  ${r.name}: ${n}`);
  }
  // fuzz categories in their table's order; others (corrupt's) as they came
  const order = (name: string) => {
    const i = CATEGORIES.findIndex((c) => c.name === name);
    return i < 0 ? CATEGORIES.length : i;
  };
  for (const r of results.filter((r) => r.categories.size > 1)) {
    say(`\n${r.name} by category`);
    const rows = [...r.categories].sort((x, y) => order(x[0]) - order(y[0])).map(([name, t]) => row(name, t));
    say(table(rows, ["category", ...HEADER.slice(1)]));
  }
  if (nExamples > 0 && results.some((r) => r.failures.length)) {
    say(`\nfailures (first ${nExamples} per category, one of each kind first):`);
    for (const r of results) {
      for (const cat of new Set(r.failures.map((f) => f.category))) {
        for (const f of examples(r.failures.filter((x) => x.category === cat), nExamples)) {
          say(`  ${r.name}/${cat}  ${f.kind}: ${f.summary.slice(0, 110)}\n      -> ${f.detail.slice(0, 240)}`);
        }
      }
    }
  }
  if (deaths.length) {
    say("\nserver deaths:");
    for (const d of deaths) {
      const culprits = d.culprits.length ? `; crashes alone: ${d.culprits.map(({ c }) => `[${c.category}] ${c.summary}`).join("; ")}` : "";
      say(`  ${d.phase}: ${d.reason} with ${d.suspects.length} request(s) in flight${culprits}`);
      if (d.log) say(`      ${d.log}`);
    }
  }
  if (end) {
    const parts = (m: Memory) => `${mib(m.rss)} (anon ${mib(m.anon)} + file ${mib(m.file)})`;
    const r = end.rss;
    const rss = !r ? "RSS not read: the server is gone"
      : r.change_pct === null ? `RSS not compared: the server was restarted (${parts(r.after)} now; peak ${mib(r.peak_kib)})`
      : `RSS ${parts(r.before)} before, ${parts(r.after)} after: ${r.change_pct >= 0 ? "+" : ""}${r.change_pct.toFixed(1)}% ` +
        `(lowest over ${r.settle_s} s of light traffic; peak ${mib(r.peak_kib)})`;
    const slots = end.slots ? `slots ${end.slots.slots - end.slots.busy}/${end.slots.slots} free, queue ${end.slots.queue}` : "slots not read";
    say(`\nserver: ${rss}\n        ${slots}${end.shutdown ? `; SIGTERM -> ${end.shutdown.exit} in ${end.shutdown.ms} ms` : ""}`);
    const h = end.health;
    say(`/health: ${h.polls} polls, p50 ${h.p50_ms.toFixed(1)} ms, p99 ${h.p99_ms.toFixed(1)} ms, max ${h.max_ms.toFixed(1)} ms, ${h.unanswered.length} unanswered`);
    for (const w of h.slowest.filter((w) => w.ms >= 100)) {
      say(`  ${w.ms.toFixed(0)} ms in ${w.phase}, in flight: ${w.inFlight.map((x) => x.slice(0, 70)).join("; ") || "nothing"}`);
    }
  }
}

function tallyJson(t: Tally) {
  return { tried: t.tried, statuses: Object.fromEntries(t.statuses), counts: Object.fromEntries(t.counts) };
}

// ---- main ----

let tmp: string | null = null;

function cleanUp(): void {
  killAll();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
}

async function main(argv: string[]): Promise<number> {
  const dash = argv.indexOf("--");
  const extra = dash < 0 ? [] : argv.slice(dash + 1);
  const parsed = parse(dash < 0 ? argv : argv.slice(0, dash), options, HELP);
  if (!parsed) return 0;
  const a = parsed.values;
  if (parsed.positionals.length) throw new UsageError(`unexpected argument '${parsed.positionals[0]}' (serve flags go after --)`);
  const phases = new Set((a.phases ?? PHASES.join(",")).split(",").map((s) => s.trim()).filter(Boolean));
  for (const p of phases) if (!PHASES.includes(p as PhaseName)) throw new UsageError(`--phases: unknown phase '${p}' (${PHASES.join(", ")})`);
  const only = a.only ? a.only.split(",").map((s) => s.trim()).filter(Boolean) : null;
  for (const c of only ?? []) if (!CATEGORIES.some((x) => x.name === c)) throw new UsageError(`--only: unknown category '${c}'`);
  const seed = num("seed", a.seed, 1, { int: true, min: 0 });
  const rssGrowth = num("rss-growth", a["rss-growth"], 10, { min: 0 });
  const nExamples = num("examples", a.examples, 3, { int: true, min: 0 });
  const say = a.json ? (s: string) => console.error(s) : (s: string) => console.log(s);

  tmp = mkdtempSync(join(tmpdir(), "rd-hostile-"));
  const model = a.model ? resolve(a.model) : join(tmp, "tiny-model.gguf");
  if (!a.model) {
    const gen = join(root, "native", "build", "make-tiny-model");
    if (!existsSync(gen)) throw new UsageError(`${gen} is missing: build native/ first (node scripts/build-native.js)`);
    execFileSync(gen, [model], { stdio: "pipe" });
  }
  if (!existsSync(model)) throw new UsageError(`model file not found: ${model}`);
  let drafter: string | null = a.drafter ? resolve(a.drafter) : null;
  if (drafter && !existsSync(drafter)) throw new UsageError(`drafter file not found: ${drafter}`);
  if (!drafter && !a["no-drafter"]) {
    drafter = join(tmp, "drafter.gguf");
    execFileSync(process.execPath, [join(root, "src", "cli", "main.ts"), "drafter", "init", "--target", model, "--out", drafter], { cwd: root, stdio: "pipe" });
  }
  const modelBytes = readFileSync(model);
  const layout = gguf(modelBytes);
  const serveArgs = ["--model", model, ...(drafter ? ["--drafter", drafter] : []), "--slots", "2", "--queue-size", "8", "--threads", "1",
    "--body-timeout", "3", "--header-timeout", "3", "--no-log-requests", ...extra];
  const ctx: CaseContext = {
    nVocab: layout.vocab ?? 32_000,
    bodyTimeoutS: Number(flagValue(serveArgs, "body-timeout")),
    headerTimeoutS: Number(flagValue(serveArgs, "header-timeout")),
    timeoutMs: num("timeout", a.timeout, 30, { min: 1 }) * 1000,
  };
  say(`model ${model}${drafter ? `, drafter ${drafter}` : ", no drafter"}; vocab ${ctx.nVocab}; seed ${seed}`);
  say(`serve ${serveArgs.join(" ")}`);

  const results: PhaseResult[] = [];
  let deaths: Death[] = [];
  let end: ServerEnd | null = null;
  if (phases.has("fuzz") || phases.has("load")) {
    const server = await serverPhases({
      serveArgs, ctx, phases, only, seed,
      requests: num("requests", a.requests, 2000, { int: true, min: 1 }),
      concurrency: num("concurrency", a.concurrency, 8, { int: true, min: 1, max: 256 }),
      duration: num("duration", a.duration, 120, { min: 1 }),
      clients: num("clients", a.clients, 32, { int: true, min: 1, max: 1024 }),
      settleS: num("settle", a.settle, 10, { min: 0 }),
      warmupS: num("warmup", a.warmup, 30, { min: 0 }),
      warmupRequests: num("warmup-requests", a["warmup-requests"], 500, { int: true, min: 0 }),
      maxRssKiB: num("max-rss", a["max-rss"], 4096, { int: true, min: 64 }) * 1024,
      keepGoing: a["keep-going"] ?? false,
      trace: a.trace ?? false,
    });
    results.push(...server.results);
    deaths = server.deaths;
    end = server.end;
  }
  if (phases.has("corrupt")) {
    const files: GgufFile[] = [{ label: "model", path: model, bytes: modelBytes, layout }];
    if (drafter) {
      const b = readFileSync(drafter);
      files.push({ label: "drafter", path: drafter, bytes: b, layout: gguf(b) });
    }
    const n = num("corrupt", a.corrupt, 2 * CORRUPTIONS.length * files.length, { int: true, min: 1 });
    log(`corrupt: ${n} copies, each run by serve and generate`);
    results.push(await corruptPhase(root, files, n, new Rng(seed, 7), tmp, log));
  }

  printReport(say, results, deaths, end, nExamples);
  const verdict: string[] = [];
  const sum = (k: Kind) => results.reduce((acc, r) => acc + r.total.count(k), 0);
  for (const [k, what] of [["crash", "crash(es)"], ["hang", "hang(s)"], ["5xx", "5xx"], ["bad-body", "non-OpenAI error bodies"]] as const) {
    if (sum(k)) verdict.push(`${sum(k)} ${what}`);
  }
  const other = results.reduce((acc, r) => acc + r.total.other(), 0);
  if (other) verdict.push(`${other} other failure(s) (broken expectations, streams, dropped answers)`);
  if (end) verdict.push(...endVerdict(end, rssGrowth));
  for (const r of results) if (r.skipped) verdict.push(`${r.name} ${r.skipped}`);
  const pass = verdict.length === 0;
  say(`\nverdict: ${pass ? "PASS" : `FAIL - ${verdict.join("; ")}`}`);

  if (a.json) {
    console.log(JSON.stringify({
      model, drafter, seed, serve_args: serveArgs, categories: CATEGORIES.map((c) => c.name), pass, verdict,
      phases: results.map((r) => ({
        name: r.name, skipped: r.skipped, notes: r.notes, ...tallyJson(r.total),
        categories: Object.fromEntries([...r.categories].map(([k, t]) => [k, tallyJson(t)])),
        failures: r.failures,
      })),
      deaths: deaths.map((d) => ({
        phase: d.phase, reason: d.reason, log: d.log, suspects: d.suspects.map((c) => `[${c.category}] ${c.summary}`),
        culprits: d.culprits.map(({ c, reason, log }) => ({ category: c.category, summary: c.summary, reason, log })),
      })),
      server: end,
    }, null, 2));
  }
  return pass ? 0 : 1;
}

// interrupted: no server of ours may outlive the bench
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.on(sig, () => {
    cleanUp();
    process.exit(130);
  });
}

main(process.argv.slice(2)).then(
  (code) => {
    cleanUp();
    process.exit(code);
  },
  (e: unknown) => {
    cleanUp();
    console.error(`error: ${e instanceof Error ? e.message : e}`);
    process.exit(2);
  },
);
