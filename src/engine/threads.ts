// threads.ts - the CPU thread count, chosen from measurement instead of a fixed share of the
// cores: the setting's parser (shared by the serve config and the other commands' flags), the
// candidate counts, the choice from a timing table, and the cache file that keeps each table
// per model, drafter, machine and library. calibrate.ts measures and wires it into the engine.
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";

/** --threads: "auto" (measure at start-up, the default) or a count >= 1. */
export type ThreadsSetting = number | "auto";

/** Most threads a session is given: past this, ggml's per-token work is too small to split. */
export const MAX_THREADS = 16;

/** "auto", 0 (what "automatic" meant before) or a whole number 1..1024; undefined otherwise.
 *  Flags and env vars give strings, the config file numbers. */
export function parseThreads(v: unknown): ThreadsSetting | undefined {
  if (typeof v === "string") {
    const s = v.trim().toLowerCase();
    if (s === "auto") return "auto";
    if (!/^\d+$/.test(s)) return undefined;
    v = Number(s);
  }
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > 1024) return undefined;
  return v === 0 ? "auto" : v;
}

/** The counts worth measuring for a session that shares `cores` hardware threads with
 *  `slots - 1` others: every count up to 8, then even ones up to MAX_THREADS. */
export function threadCandidates(cores: number, slots: number): number[] {
  const most = Math.max(1, Math.min(MAX_THREADS, Math.floor(cores / Math.max(1, slots))));
  return Array.from({ length: most }, (_, i) => i + 1).filter((t) => t <= 8 || t % 2 === 0 || t === most);
}

/** Mean step times at one thread count, milliseconds (calibrate-worker.ts); null: not
 *  measured, because the count was dropped as far slower than the best before that step. */
export interface ThreadTiming {
  threads: number;
  plainMs: number | null; // a plain step: one token decoded, its LM head
  verify4Ms: number | null; // verifying a chain of 4 tree nodes (root + 3 drafted)
  verify16Ms: number | null; // verifying 16 nodes (root + 15: a long context copy)
  draftMs: number | null; // the drafter's beam search for one step (0 without a drafter)
  rounds: number; // plain-step samples behind the means (fewer for a count dropped early)
}

/** Expected time per generated token at this count (Infinity when a step it needs was not
 *  measured). Without speculation every step is plain. With it, the adaptive policy drafts only
 *  when a tree pays, so a count is worth its cheapest way to a token: a plain step (1 token), a
 *  drafter tree of 4 nodes taken as 2 tokens, or a copy of 16 nodes taken as 4:
 *    cost = min(plain, (draft + verify4) / 2, verify16 / 4).
 *  (A mix of step costs, plain/2 + (draft + verify4)/4 + verify16/4, chose 1 thread for SmolLM2
 *  once its one-thread trees became cheap (the body kernel), although 2 threads decoded ~1.5x
 *  more tokens per second on the 2-core machine: its plain steps are 1.7x faster there.) */
export function stepCost(t: ThreadTiming, speculative: boolean): number {
  const { plainMs: p, verify4Ms: v4, verify16Ms: v16, draftMs: d } = t;
  if (p === null) return Infinity;
  if (!speculative) return p;
  if (v4 === null || v16 === null || d === null) return Infinity;
  return Math.min(p, (d + v4) / 2, v16 / 4);
}

/** Share of the best cost within which a smaller count is preferred: it leaves cores to the
 *  rest of the machine, and differences this small are within run-to-run noise. */
export const TIE_TOLERANCE = 0.03;

/** The smallest count (of at most `most`) whose cost is within TIE_TOLERANCE of the best. */
export function chooseThreads(table: readonly ThreadTiming[], speculative: boolean, most = MAX_THREADS): number {
  const rows = table.filter((t) => t.threads <= most).sort((a, b) => a.threads - b.threads);
  if (rows.length === 0) return 1;
  const best = Math.min(...rows.map((t) => stepCost(t, speculative)));
  return rows.find((t) => stepCost(t, speculative) <= best * (1 + TIE_TOLERANCE))!.threads;
}

/** One line: the table, each count's cost and the choice. */
export function describeTable(table: readonly ThreadTiming[], speculative: boolean, chosen: number): string {
  const ms = (x: number | null) => (x === null ? "-" : x.toFixed(1));
  const most = Math.max(...table.map((t) => t.rounds));
  const rows = table.map((t) => {
    const cost = stepCost(t, speculative);
    const dropped = t.rounds < most || !Number.isFinite(cost) ? " (dropped: far slower)" : "";
    return `${t.threads}${dropped}: plain ${ms(t.plainMs)}, verify4 ${ms(t.verify4Ms)}, verify16 ${ms(t.verify16Ms)}` +
      `${t.draftMs !== 0 ? `, draft ${ms(t.draftMs)}` : ""}, cost ${Number.isFinite(cost) ? ms(cost) : "-"}`;
  });
  const formula = speculative ? "min(plain, (draft + verify4)/2, verify16/4) per token" : "plain";
  const unmeasured = table.some((t) => [t.plainMs, t.verify4Ms, t.verify16Ms, t.draftMs].includes(null)) ? "; -: not measured" : "";
  return `${chosen} (ms per step by thread count, ${rows.join(" | ")}; cost = ${formula}${unmeasured})`;
}

// ---- cache ----------------------------------------------------------------------------------

/** A file's identity without reading it: a changed size or mtime means another file. */
export interface FileStamp {
  path: string;
  size: number;
  mtimeMs: number;
}

export function fileStamp(path: string): FileStamp {
  const st = statSync(path);
  return { path, size: st.size, mtimeMs: Math.round(st.mtimeMs) };
}

/** Everything the timings depend on; a table is reused only when all of it matches. */
export interface CalibrationKey {
  method: number; // CALIBRATION_METHOD when measured
  model: FileStamp;
  drafter: FileStamp | null;
  library: FileStamp & { version: string };
  cpu: string; // the CPU model (/proc/cpuinfo "model name" on Linux)
  cores: number; // hardware threads
  counts: number[]; // the counts measured
  session: Record<string, unknown>; // the model and session settings that change step times
}

/** Bumped when what calibrate-worker.ts measures changes: older tables are measured again. */
export const CALIBRATION_METHOD = 1;

export interface CacheEntry {
  key: CalibrationKey;
  table: ThreadTiming[];
  measuredAt: string; // ISO time
  tookMs: number; // how long the measurement took
}

interface CacheFile {
  entries: CacheEntry[];
}

/** Entries kept in the file; the oldest go first. */
const MAX_ENTRIES = 32;

/** $REDRAFTER_THREADS_CACHE, else ~/.cache/redrafter/threads.json. */
export function threadsCachePath(env: Record<string, string | undefined> = process.env): string {
  return env.REDRAFTER_THREADS_CACHE || join(homedir(), ".cache", "redrafter", "threads.json");
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** The file's entries; none when it is missing or unreadable (it is then written afresh). */
function readCache(path: string): CacheEntry[] {
  try {
    const file = JSON.parse(readFileSync(path, "utf8")) as CacheFile;
    return Array.isArray(file.entries) ? file.entries.filter((e) => e && e.key && Array.isArray(e.table)) : [];
  } catch {
    return [];
  }
}

/** The entry measured under exactly this key, or null. */
export function readCalibration(path: string, key: CalibrationKey): CacheEntry | null {
  return readCache(path).find((e) => same(e.key, key)) ?? null;
}

/** Add (or replace) the entry for its key. Entries whose model file changed or is gone are
 *  dropped. Written to a temporary file and renamed, so a reader never sees half a file; two
 *  starts writing at once may lose one entry, which is then measured again. */
export function writeCalibration(path: string, entry: CacheEntry): void {
  const current = (e: CacheEntry) => {
    try {
      return same(fileStamp(e.key.model.path), e.key.model);
    } catch {
      return false;
    }
  };
  const entries = readCache(path).filter((e) => !same(e.key, entry.key) && current(e));
  entries.push(entry);
  const file: CacheFile = { entries: entries.slice(-MAX_ENTRIES) };
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${randomBytes(4).toString("hex")}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(file, null, 1)}\n`);
  renameSync(tmp, path);
}
