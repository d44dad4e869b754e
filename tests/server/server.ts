// server.ts - test fixture: a real `redrafter serve` process (spawned with Bun, exactly as a
// user starts it) on a free port, plus small HTTP helpers. Never a mocked engine.
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import OpenAI from "openai";
import { afterAll, beforeAll } from "vitest";
import { repoRoot } from "../../src/ffi/symbols.ts";
import { makeTinyModel, type TinyModel } from "../helpers/tiny-model.ts";

export interface TestServer {
  url: string; // http://127.0.0.1:PORT
  proc: ChildProcess;
  /** stderr so far (startup log, request log) */
  log(): string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Small, exact and quick on a shared 2-core machine: one thread, no flash attention, f32 KV;
 *  and a full 4 x 4 tree every step (no adaptive length; batch-variant mode, which verifies
 *  trees of several beams), so speculation is always exercised. */
export const EXACT = ["--threads", "1", "--flash-attn", "off", "--kv-f32", "--no-log-requests", "--no-batch-invariant",
  "--beam-width", "4", "--beam-length", "4", "--no-adaptive"];

/** The SDK tests' server (the tiny model with its drafter, 2 slots, EXACT) and an `openai` client
 *  on it: started before the calling file's tests, stopped after them. */
export function sdkServer(): { server: TestServer; client: OpenAI } {
  const ctx = {} as { server: TestServer; client: OpenAI };
  let tiny: TinyModel | undefined;
  beforeAll(async () => {
    tiny = makeTinyModel();
    ctx.server = await startServer(["--model", tiny.model, "--drafter", tiny.drafter, "--slots", "2", ...EXACT]);
    ctx.client = new OpenAI({ baseURL: `${ctx.server.url}/v1`, apiKey: "unused", maxRetries: 0 });
  }, 120_000);
  afterAll(async () => {
    await ctx.server?.stop();
    tiny?.cleanup();
  });
  return ctx;
}

export async function startServer(args: string[], opts: { env?: Record<string, string>; waitHealthy?: boolean } = {}): Promise<TestServer> {
  const proc = spawn(process.execPath, [join(repoRoot, "src", "cli", "main.ts"), "serve", "--host", "127.0.0.1", "--port", "0", ...args], {
    cwd: repoRoot,
    env: { ...process.env, ...opts.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  proc.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  proc.stdout!.on("data", (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((r) => proc.on("exit", (code) => r(code)));

  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${stderr}`)), 60_000);
    const check = () => {
      const m = /listening on (http:\/\/\S+)/.exec(stderr);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    };
    proc.stderr!.on("data", check);
    exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}:\n${stderr}`));
    });
  });
  const server: TestServer = {
    url,
    proc,
    log: () => stderr,
    async stop(signal = "SIGTERM") {
      if (proc.exitCode === null) proc.kill(signal);
      return exited;
    },
  };
  if (opts.waitHealthy !== false) await waitHealthy(url);
  return server;
}

export async function waitHealthy(url: string, timeoutMs = 60_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const r = await fetch(`${url}/health`).catch(() => null);
    if (r?.status === 200) return;
    if (Date.now() > until) throw new Error(`${url}/health not ready: ${r?.status}`);
    await new Promise((res) => setTimeout(res, 50));
  }
}

export async function post(url: string, path: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${url}${path}`, {
    method: "POST",
    headers: { "Content-Type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

/** Poll until cond() holds (or fail after timeoutMs). */
export async function eventually(cond: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > until) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 25));
  }
}
