// supervisor.ts - the serve process through bench/hostile.ts's server phases: sends each case on
// the live server and judges the answer; notices a death and which requests were in flight; with
// --keep-going restarts the server and replays those requests one at a time to find the one that
// kills it alone; polls /health and the RSS throughout, killing a server whose memory runs away.
import { type Case, request } from "./cases.ts";
import { type Finding, judge } from "./judge.ts";
import type { Death } from "./results.ts";
import { describeExit, type Exit, type RedrafterProcess, spawnServe } from "./server.ts";
import { type Exchange, exchange } from "./wire.ts";

const MAX_RESTARTS = 100; // a server that keeps dying is restarted this often, then the phase stops

/** The lines of a dead server's output that say why (an uncaught C++ exception, an assert, a
 *  panic), rather than its crash reporter's boilerplate. */
function crashExcerpt(log: string): string {
  const telling = log.split("\n").map((l) => l.trim())
    .filter((l) => /terminate called|what\(\)|assert|panic:|segmentation fault|error:/i.test(l) && !/^RSS:|bun\.report|GitHub issue/i.test(l));
  return telling.slice(-3).join(" | ").slice(0, 300);
}

function exchangeOptions(c: Case, s: RedrafterProcess) {
  return { host: s.host, port: s.port, timeoutMs: c.timeoutMs, head: c.head, stopAfterEvents: c.stopAfterEvents };
}

/** `redrafter serve ARGS` once its /health answers 200 (the model loaded). */
export async function startServe(root: string, args: string[], timeoutMs = 120_000): Promise<RedrafterProcess> {
  const s = await spawnServe(root, args, timeoutMs);
  const until = Date.now() + timeoutMs;
  const probe = request({ path: "/health" });
  for (;;) {
    const x = await exchange(probe(s), { host: s.host, port: s.port, timeoutMs: 5000 });
    if (x.status === 200) return s;
    if (s.exit || Date.now() > until) {
      s.kill("SIGKILL");
      throw new Error(`the server did not become healthy (${s.exit ? describeExit(s.exit) : `status ${x.status}`}):\n${s.log()}`);
    }
    await Bun.sleep(100);
  }
}

export interface Sent {
  key: string; // the status, or how the exchange ended without one ("closed", "timeout"; "lost" in a crash)
  x: Exchange;
  findings: Finding[];
}

export interface SupervisorOptions {
  start: () => Promise<RedrafterProcess>; // a fresh server, healthy
  keepGoing: boolean;
  trace: boolean; // one line per request on stderr
  log: (msg: string) => void;
}

export class Supervisor {
  phase = "startup";
  replay = false; // replay suspects after a death (fuzz; load requests are all alike)
  readonly deaths: Death[] = [];
  restarts = 0;
  readonly #inFlight = new Set<Case>();
  readonly #replayed = new Map<Case, Exchange>(); // answers of suspects that did not crash it alone
  #restarting: Promise<RedrafterProcess | null> | null = null;
  #replaying = false;
  #closing = false;

  constructor(
    public server: RedrafterProcess,
    readonly opts: SupervisorOptions,
  ) {
    this.#watch(server);
  }

  #watch(s: RedrafterProcess): void {
    s.exited.then((exit) => {
      if (this.#closing || this.#replaying) return;
      this.deaths.push({ phase: this.phase, reason: s.killedFor ?? describeExit(exit), suspects: [...this.#inFlight], culprits: [], log: crashExcerpt(s.log(8000)) });
    });
  }

  /** The running server; after a crash a restarted one (--keep-going) or null. */
  async live(): Promise<RedrafterProcess | null> {
    if (!this.server.exit) return this.server;
    await this.server.exited; // its death is recorded by now
    if (!this.opts.keepGoing) return null;
    this.#restarting ??= this.#restart().finally(() => (this.#restarting = null));
    return this.#restarting;
  }

  async #restart(): Promise<RedrafterProcess | null> {
    const death = this.deaths.at(-1)!;
    const queue = this.replay ? [...death.suspects] : [];
    for (;;) {
      if (this.restarts >= MAX_RESTARTS) return null;
      this.restarts++;
      this.opts.log(`server died (${death.reason}); restart ${this.restarts}${queue.length ? `, replaying ${queue.length} suspect(s) one at a time` : ""}`);
      let s: RedrafterProcess;
      try {
        s = await this.opts.start();
      } catch (e) {
        this.opts.log(`restart failed: ${(e as Error).message}`);
        return null;
      }
      this.server = s;
      this.#watch(s);
      let died = false;
      this.#replaying = true;
      while (queue.length && !died) {
        const c = queue.shift()!;
        const x = await exchange(c.pieces(s), exchangeOptions(c, s));
        if (!s.exit) await Promise.race([s.exited, Bun.sleep(500)]);
        if (s.exit) {
          death.culprits.push({ c, reason: s.killedFor ?? describeExit(s.exit), log: crashExcerpt(s.log(8000)) });
          died = true;
        } else {
          this.#replayed.set(c, x);
        }
      }
      this.#replaying = false;
      if (!died) return s;
    }
  }

  /** One case on the live server, judged; null when there is none left (a crash without
   *  --keep-going). A request in flight when the server died is judged by its answer when
   *  replayed alone after the restart (fuzz, --keep-going); otherwise it is "lost". */
  async send(c: Case): Promise<Sent | null> {
    const judged = (x: Exchange): Sent => ({ key: x.status === null ? x.end : String(x.status), x, findings: judge(x, c.expect, c.head) });
    for (;;) {
      const s = await this.live();
      if (!s) return null;
      this.#inFlight.add(c);
      const x = await exchange(c.pieces(s), exchangeOptions(c, s));
      const answered = x.end === "complete" || x.end === "stopped";
      // a crash closes every connection a moment before the exit is seen: wait for it, so this
      // request counts as a suspect, not as a request the server dropped
      if (!answered && !s.exit) await Promise.race([s.exited, Bun.sleep(500)]);
      this.#inFlight.delete(c);
      if (s.exit && x.end === "refused") {
        // it never reached the server, which was already gone: no suspect; send it again
        const d = this.deaths.at(-1);
        if (d) d.suspects = d.suspects.filter((y) => y !== c);
        continue;
      }
      let sent: Sent;
      if (s.exit && !answered) {
        await this.live(); // the restart replays the suspects
        const replayed = this.#replayed.get(c);
        this.#replayed.delete(c);
        sent = replayed ? judged(replayed) : { key: "lost", x, findings: [] };
      } else {
        sent = judged(x);
      }
      if (this.opts.trace) {
        const f = sent.findings.map((y) => y.kind).join(",");
        console.error(`#${c.id} [${c.category}] ${sent.key} ${Math.round(sent.x.ms)}ms${f ? ` FAIL:${f}` : ""} ${c.summary}`);
      }
      return sent;
    }
  }

  /** The requests on the wire now, as "[category] summary". */
  inFlight(): string[] {
    return [...this.#inFlight].map((c) => `[${c.category}] ${c.summary}`);
  }

  async close(): Promise<{ exit: Exit; ms: number; killed: boolean } | null> {
    this.#closing = true;
    if (this.server.exit) return null;
    return this.server.stop();
  }
}

/** Polls /health every 200 ms while the server phases run, and kills a server whose RSS passes
 *  the limit (a memory blow-up is a crash, and must not take the machine down with it). */
export class Monitor {
  readonly latencies: number[] = [];
  readonly misses: string[] = [];
  /** The slowest polls and what was in flight meanwhile: what blocks the event loop. */
  readonly slowest: { ms: number; phase: string; inFlight: string[] }[] = [];
  peakRssKiB = 0;
  #running = false;
  #loop: Promise<void> = Promise.resolve();

  start(sup: Supervisor, maxRssKiB: number): void {
    this.#running = true;
    const probe = request({ path: "/health" });
    this.#loop = (async () => {
      while (this.#running) {
        const s = sup.server;
        if (!s.exit) {
          const during = new Set(sup.inFlight());
          const x = await exchange(probe(s), { host: s.host, port: s.port, timeoutMs: 5000 });
          for (const c of sup.inFlight()) during.add(c);
          if (x.status === 200 && x.end === "complete") {
            this.latencies.push(x.ms);
            this.#noteSlow(x.ms, sup.phase, [...during]);
          } else {
            if (!s.exit) await Promise.race([s.exited, Bun.sleep(500)]);
            if (!s.exit) this.misses.push(`${sup.phase}: ${x.end === "timeout" ? "no answer in 5 s" : `${x.status ?? "no status"} (${x.end})`}`);
          }
          const rss = s.rssKiB();
          if (rss !== null) {
            this.peakRssKiB = Math.max(this.peakRssKiB, rss);
            if (rss > maxRssKiB) s.kill("SIGKILL", `RSS ${(rss / 1024).toFixed(0)} MiB over --max-rss ${maxRssKiB / 1024} MiB, killed`);
          }
        }
        await Bun.sleep(200);
      }
    })();
  }

  #noteSlow(ms: number, phase: string, inFlight: string[]): void {
    if (this.slowest.length === 3 && ms <= this.slowest[2]!.ms) return;
    this.slowest.push({ ms, phase, inFlight: inFlight.slice(0, 8) });
    this.slowest.sort((a, b) => b.ms - a.ms);
    this.slowest.length = Math.min(this.slowest.length, 3);
  }

  async stop(): Promise<void> {
    this.#running = false;
    await this.#loop;
  }
}

export type Memory = NonNullable<ReturnType<RedrafterProcess["memory"]>>;

/** The server's memory at rest, measured the same way before and after the phases: for
 *  `seconds`, one small valid request after another (allocations that let the garbage collector
 *  run, which an idle server never does), RSS sampled every 250 ms; the lowest sample. */
export async function settledMemory(s: RedrafterProcess, seconds: number): Promise<Memory> {
  const small = request({ path: "/v1/completions", body: '{"prompt":"hi","max_tokens":1}' })(s);
  let low: Memory = s.memory() ?? { rss: 0, anon: 0, file: 0 };
  const until = Date.now() + seconds * 1000;
  let sampled = 0;
  while (Date.now() < until && !s.exit) {
    await exchange(small, { host: s.host, port: s.port, timeoutMs: 5000 });
    if (Date.now() - sampled >= 250) {
      sampled = Date.now();
      const m = s.memory();
      if (m && m.rss < low.rss) low = m;
    }
  }
  return low;
}
