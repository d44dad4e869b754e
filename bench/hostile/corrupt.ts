// corrupt.ts - bench/hostile.ts's corrupt phase: damaged copies of the model and drafter GGUFs
// (gguf.ts), each given to `redrafter serve` and to `redrafter generate`. Each run must end by
// itself: refused with an exit code and an error message, or, for damage a loader may accept,
// loaded and working; never a signal, never a hang.
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { request } from "./cases.ts";
import { CORRUPTIONS, type GgufLayout } from "./gguf.ts";
import { judge } from "./judge.ts";
import { type Kind, PhaseResult } from "./results.ts";
import type { Rng } from "./rng.ts";
import { describeExit, type Exit, RedrafterProcess } from "./server.ts";
import { exchange } from "./wire.ts";

export interface GgufFile {
  label: "model" | "drafter";
  path: string;
  bytes: Uint8Array;
  layout: GgufLayout;
}

const TIMEOUT_MS = 60_000; // a load that takes longer is a hang

type Verdict = { key: string; findings: { kind: Kind; detail: string }[] };

/** How a run on a corrupted file ended. exit null: it did not end by itself. */
function verdict(exit: Exit | null, out: string, mustRefuse: boolean, loaded: boolean): Verdict {
  const tail = out.trim().split("\n").slice(-2).join(" | ").slice(0, 200);
  if (!exit) return { key: "hang", findings: [{ kind: "hang", detail: `no exit; killed. Last output: ${tail}` }] };
  if (exit.signal) return { key: exit.signal, findings: [{ kind: "crash", detail: `${exit.signal}. Last output: ${tail}` }] };
  if (exit.code !== 0 && !loaded) {
    return /error/i.test(out) ? { key: "refused", findings: [] } : { key: "silent", findings: [{ kind: "expect", detail: `exit ${exit.code} without an error message: ${tail}` }] };
  }
  return { key: "loaded", findings: mustRefuse ? [{ kind: "expect", detail: `loaded a file it must refuse (${describeExit(exit)})` }] : [] };
}

async function serve(root: string, args: string[], mustRefuse: boolean): Promise<Verdict> {
  const p = new RedrafterProcess(root, ["serve", "--host", "127.0.0.1", "--port", "0", "--threads", "1", "--no-log-requests", ...args]);
  const m = await p.waitFor(/\[serve\] ready:|^error:/m, TIMEOUT_MS);
  if (!m && !p.exit) {
    p.kill("SIGKILL", "hang");
    await p.exited;
    return verdict(null, p.log(), mustRefuse, false);
  }
  if (m?.[0].startsWith("error")) await Promise.race([p.exited, Bun.sleep(10_000)]);
  if (p.exit || !m) return verdict(p.exit, p.log(), mustRefuse, false);
  // it loaded: a request must still work, and SIGTERM end it cleanly
  const addr = /listening on http:\/\/(\S+):(\d+)/.exec(p.log())!;
  const t = { host: addr[1]!, port: Number(addr[2]) };
  const x = await exchange(request({ path: "/v1/completions", body: '{"prompt":"hi","max_tokens":2}' })(t), { ...t, timeoutMs: 30_000 });
  const stop = await p.stop(15_000);
  const v = verdict(stop.killed ? null : stop.exit, p.log(), mustRefuse, true);
  return { key: v.key, findings: [...v.findings, ...judge(x, {}).map((f) => ({ ...f, detail: `a request on the loaded file: ${f.detail}` }))] };
}

async function generate(root: string, args: string[], mustRefuse: boolean): Promise<Verdict> {
  const p = new RedrafterProcess(root, ["generate", "--prompt", "hi", "--max-tokens", "2", "--threads", "1", ...args]);
  const t = setTimeout(() => p.kill("SIGKILL", "hang"), TIMEOUT_MS);
  const exit = await p.exited;
  clearTimeout(t);
  return verdict(p.killedFor ? null : exit, p.log(), mustRefuse, false);
}

/** n copies, cycling through the kinds of damage, a round on the model then a round on the
 *  drafter (when there is one). Categories: "<file>: <kind of damage>". */
export async function corruptPhase(root: string, files: GgufFile[], n: number, rng: Rng, tmp: string, log: (msg: string) => void): Promise<PhaseResult> {
  const r = new PhaseResult("corrupt");
  const model = files.find((f) => f.label === "model")!;
  for (let i = 0; i < n; i++) {
    const kind = CORRUPTIONS[i % CORRUPTIONS.length]!;
    const f = files[Math.floor(i / CORRUPTIONS.length) % files.length]!;
    const bad = kind.make(f.bytes, f.layout, rng);
    if (!bad) {
      const note = `the ${f.label} has no field for '${kind.name}'`;
      if (!r.notes.includes(note)) r.notes.push(note);
      continue;
    }
    const path = join(tmp, `corrupt-${i}-${f.label}.gguf`);
    writeFileSync(path, bad.bytes);
    // a corrupted target runs alone; a corrupted drafter beside the sound target
    const args = f.label === "model"
      ? { serve: ["--model", path, "--no-draft"], generate: ["--model", path, "--no-drafter"] }
      : { serve: ["--model", model.path, "--drafter", path], generate: ["--model", model.path, "--drafter", path] };
    const category = `${f.label}: ${kind.name}`;
    const served = await serve(root, args.serve, bad.mustRefuse);
    r.record(category, served.key, served.findings, `serve, ${f.label} ${bad.summary}`);
    const generated = await generate(root, args.generate, bad.mustRefuse);
    r.record(category, generated.key, generated.findings, `generate, ${f.label} ${bad.summary}`);
    rmSync(path, { force: true });
    if ((i + 1) % 10 === 0 || i + 1 === n) log(`corrupt ${i + 1}/${n} copies`);
  }
  return r;
}
