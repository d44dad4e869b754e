// server.ts - a `redrafter` process under test in bench/hostile.ts (serve, or generate in the
// corrupt phase), spawned with Bun exactly as a user starts it and watched from outside: its
// stderr, its exit (code or signal), its resident memory (/proc/PID/status VmRSS).
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";

export interface Exit {
  code: number | null;
  signal: string | null;
}

export const describeExit = (e: Exit) => (e.signal ? e.signal : `exit ${e.code}`);

const LOG_KEEP = 64 * 1024; // characters of stderr kept: enough for the last native error

const running = new Set<RedrafterProcess>();

/** SIGKILL every process this module started that still runs (the bench is being interrupted). */
export function killAll(): void {
  for (const p of running) p.kill("SIGKILL");
}

export class RedrafterProcess {
  readonly proc: ChildProcess;
  readonly exited: Promise<Exit>;
  exit: Exit | null = null;
  host = "";
  port = 0;
  /** Set when the bench itself killed the process, and why (memory over --max-rss, a hang). */
  killedFor: string | null = null;
  #log = "";
  #waiters: (() => void)[] = [];

  /** Runs `bun src/cli/main.ts ARGS` in root. */
  constructor(root: string, args: string[]) {
    this.proc = spawn(process.execPath, [join(root, "src", "cli", "main.ts"), ...args], {
      cwd: root,
      stdio: ["ignore", "pipe", "pipe"],
    });
    const take = (d: Buffer) => {
      this.#log = (this.#log + d.toString()).slice(-LOG_KEEP);
      for (const w of this.#waiters.splice(0)) w();
    };
    this.proc.stdout!.on("data", take);
    this.proc.stderr!.on("data", take);
    running.add(this);
    this.exited = new Promise((resolve) =>
      this.proc.on("exit", (code, signal) => {
        running.delete(this);
        this.exit = { code, signal };
        for (const w of this.#waiters.splice(0)) w();
        resolve(this.exit);
      }),
    );
  }

  get pid(): number {
    return this.proc.pid!;
  }

  log(chars = 2000): string {
    return this.#log.slice(-chars);
  }

  /** The first match of re in the output, or null once the process exits or timeoutMs pass. */
  async waitFor(re: RegExp, timeoutMs: number): Promise<RegExpExecArray | null> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const m = re.exec(this.#log);
      if (m || this.exit || Date.now() >= until) return m;
      await Promise.race([new Promise<void>((r) => this.#waiters.push(r)), Bun.sleep(Math.min(250, until - Date.now()))]);
    }
  }

  /** Resident memory in KiB (VmRSS, and its anonymous and file-backed parts), or null when the
   *  process is gone. File-backed pages are mostly Bun's own code, paged in as paths run. */
  memory(): { rss: number; anon: number; file: number } | null {
    try {
      const status = readFileSync(`/proc/${this.pid}/status`, "utf8");
      const kib = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+) kB`).exec(status)?.[1] ?? NaN);
      return { rss: kib("VmRSS"), anon: kib("RssAnon"), file: kib("RssFile") };
    } catch {
      return null;
    }
  }

  rssKiB(): number | null {
    return this.memory()?.rss ?? null;
  }

  kill(signal: NodeJS.Signals, why: string | null = null): void {
    if (this.exit) return;
    if (why) this.killedFor ??= why;
    this.proc.kill(signal);
  }

  /** SIGTERM, then SIGKILL after graceMs; the exit and how long the process took. */
  async stop(graceMs = 20_000): Promise<{ exit: Exit; ms: number; killed: boolean }> {
    const t0 = performance.now();
    this.kill("SIGTERM");
    const timer = setTimeout(() => this.kill("SIGKILL", `no exit ${graceMs / 1000} s after SIGTERM`), graceMs);
    const exit = await this.exited;
    clearTimeout(timer);
    return { exit, ms: performance.now() - t0, killed: exit.signal === "SIGKILL" };
  }
}

/** `redrafter serve ARGS --host 127.0.0.1 --port 0` once it listens (its address set); it may
 *  still be loading the model. Throws with the log if it exits or does not listen in time. */
export async function spawnServe(root: string, args: string[], timeoutMs = 120_000): Promise<RedrafterProcess> {
  const p = new RedrafterProcess(root, ["serve", "--host", "127.0.0.1", "--port", "0", ...args]);
  const m = await p.waitFor(/listening on http:\/\/(\S+):(\d+)/, timeoutMs);
  if (!m) {
    p.kill("SIGKILL");
    const exit = await p.exited;
    throw new Error(`redrafter serve did not start (${describeExit(exit)}):\n${p.log()}`);
  }
  p.host = m[1]!.replace(/^\[|\]$/g, "");
  p.port = Number(m[2]);
  return p;
}
