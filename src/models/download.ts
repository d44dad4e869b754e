// download.ts - one file over HTTP(S) into the model cache, resumable: bytes land in DEST.part,
// an interrupted download (a dropped connection, Ctrl-C, a machine gone offline) continues from
// where it stopped with a Range request, and DEST appears only once its size and sha256 match.
import { createHash } from "node:crypto";
import { createReadStream, existsSync } from "node:fs";
import { open, rename, rm, stat } from "node:fs/promises";

export interface DownloadSpec {
  url: string;
  dest: string;
  size: number; // bytes
  sha256: string; // hex
}

/** Seconds without a byte before an attempt is given up (and resumed, if it made progress). */
const STALL_S = 60;
/** Attempts in one call; only an attempt that received bytes earns another one. */
const ATTEMPTS = 5;

/** A failure to reach a host: the message names the URL and what went wrong. */
export class UnreachableError extends Error {
  override name = "UnreachableError";
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

const partSize = async (path: string) => (await stat(path).catch(() => null))?.size ?? 0;

/** One GET (ranged from `have`), appended to part; resolves with the bytes now in part. */
async function attempt(spec: DownloadSpec, part: string, have: number, onBytes: (n: number) => void): Promise<number> {
  const abort = new AbortController();
  let stall = setTimeout(() => abort.abort(new Error(`no data for ${STALL_S} s`)), STALL_S * 1000);
  try {
    let res: Response;
    try {
      res = await fetch(spec.url, { headers: have > 0 ? { Range: `bytes=${have}-` } : {}, signal: abort.signal });
    } catch (e) {
      const err = e as Error & { code?: string };
      throw new UnreachableError(`could not reach ${new URL(spec.url).host} (${err.code ?? err.message})`);
    }
    // 206: the server resumes; 200: it sends everything again (no range support), so start over
    if (res.status !== 206 && res.status !== 200) {
      throw new UnreachableError(`${spec.url} answered HTTP ${res.status} ${res.statusText}`);
    }
    if (res.status === 200) have = 0;
    const fh = await open(part, have > 0 ? "a" : "w");
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        clearTimeout(stall);
        stall = setTimeout(() => abort.abort(new Error(`no data for ${STALL_S} s`)), STALL_S * 1000);
        await fh.write(chunk);
        have += chunk.length;
        onBytes(have);
        if (have > spec.size) throw new Error(`${spec.url} sent more than the expected ${spec.size} bytes`);
      }
    } finally {
      await fh.close();
    }
    return have;
  } finally {
    clearTimeout(stall);
  }
}

/**
 * DEST, downloaded (or resumed) and checked. onBytes(n) reports the bytes of this file held so
 * far, resumed ones included. A sha256 mismatch deletes the partial file, so the next call
 * starts clean.
 */
export async function download(spec: DownloadSpec, onBytes: (n: number) => void = () => {}): Promise<void> {
  if (existsSync(spec.dest)) {
    if ((await sha256File(spec.dest)) === spec.sha256) return;
    await rm(spec.dest); // a bad copy (placed by hand?): fetch it again
  }
  const part = `${spec.dest}.part`;
  let have = await partSize(part);
  if (have > spec.size) {
    await rm(part, { force: true });
    have = 0;
  }
  onBytes(have);
  for (let i = 1; have < spec.size; i++) {
    const before = have;
    try {
      have = await attempt(spec, part, have, onBytes);
      if (have < spec.size) throw new Error(`the connection closed after ${have} of ${spec.size} bytes`);
    } catch (e) {
      have = await partSize(part);
      if (have > before && i < ATTEMPTS) continue; // it was moving: resume
      if (e instanceof UnreachableError) throw e;
      throw new UnreachableError(`downloading ${spec.url} stopped at ${have} of ${spec.size} bytes (${e instanceof Error ? e.message : e})`);
    }
  }
  const sha = await sha256File(part);
  if (sha !== spec.sha256) {
    await rm(part, { force: true });
    throw new Error(`${spec.url}: sha256 ${sha} does not match the expected ${spec.sha256} (partial download deleted)`);
  }
  await rename(part, spec.dest);
}
