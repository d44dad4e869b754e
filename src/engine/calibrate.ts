// calibrate.ts - the thread count of an engine's sessions: the count given, or for "auto" the
// one chosen (threads.ts) from step timings read from the cache, or measured now in a worker
// (calibrate-worker.ts) and cached for the next start.
import { availableParallelism, cpus } from "node:os";
import { resolve } from "node:path";
import type { SessionParams } from "../ffi/session.ts";
import { libraryPath, nativeVersion, type Pointer } from "../ffi/symbols.ts";
import type { CalibrateReply, CalibrateRequest } from "./calibrate-worker.ts";
import { EngineError } from "./errors.ts";
import {
  CALIBRATION_METHOD, chooseThreads, describeTable, fileStamp, readCalibration, threadCandidates, threadsCachePath,
  writeCalibration, type CacheEntry, type CalibrationKey, type ThreadsSetting, type ThreadTiming,
} from "./threads.ts";

const WORKER_URL = new URL("./calibrate-worker.ts", import.meta.url).href;

/** Rounds of the measurement (their mean is kept), and the time after which no round starts:
 *  a round of 2 counts takes ~0.5 s for Gemma 3 270M on 2 cores, so 5 rounds fit with the
 *  model's first-session check (~1.2 s); with many counts the budget ends the rounds sooner. */
const ROUNDS = 5;
const BUDGET_MS = 4_000;

export interface ThreadsRequest {
  setting: ThreadsSetting;
  recalibrate: boolean; // measure even when the cache holds a table for this key
  slots: number; // sessions sharing the cores
  model: { ptr: Pointer; path: string; nVocab: number };
  drafter: { ptr: Pointer; path: string } | null;
  modelSettings: Record<string, unknown>; // load settings that change step times (GPU layers, ...)
  params: SessionParams; // the engine's session settings; the thread count is what is chosen
  speculative: boolean; // steps may verify trees (a drafter, or the context copy)
  log: (line: string) => void;
}

/** The thread count for each of the engine's sessions. "auto" logs one line: the timing
 *  table, each count's cost and the choice, and whether the table was measured or cached. */
export async function sessionThreads(req: ThreadsRequest): Promise<number> {
  if (req.setting !== "auto") return req.setting;
  const cores = availableParallelism();
  const counts = threadCandidates(cores, req.slots);
  if (counts.length === 1) {
    req.log(`threads: 1 (${req.slots} slot(s) on ${cores} hardware thread(s) leave nothing to measure)`);
    return 1;
  }
  const key = calibrationKey(req, counts, cores);
  const path = threadsCachePath();
  let entry = req.recalibrate ? null : readCalibration(path, key);
  let note: string;
  if (entry) {
    note = `cached in ${path}, measured ${entry.measuredAt}`;
  } else {
    const t0 = performance.now();
    const table = await measure({
      model: req.model.ptr, drafter: req.drafter?.ptr ?? null, nVocab: req.model.nVocab, counts,
      rounds: ROUNDS, budgetMs: BUDGET_MS, speculative: req.speculative, beamLength: req.params.beamLength ?? 2,
      params: req.params,
    });
    entry = { key, table, measuredAt: new Date().toISOString(), tookMs: Math.round(performance.now() - t0) };
    note = `measured in ${(entry.tookMs / 1000).toFixed(1)} s${save(path, entry)}`;
  }
  const chosen = chooseThreads(entry.table, req.speculative, counts[counts.length - 1]);
  req.log(`threads: ${describeTable(entry.table, req.speculative, chosen)}; ${note} (--threads N to set, --recalibrate-threads to measure again)`);
  return chosen;
}

/** What the timings depend on: the model and drafter files, the library, the CPU, the counts
 *  and the settings that change a measured step's time (not the context size, the policy or
 *  the copy's length, which the measurement fixes). */
export function calibrationKey(
  req: { model: { path: string }; drafter: { path: string } | null } & Pick<ThreadsRequest, "modelSettings" | "params">,
  counts: number[],
  cores: number,
): CalibrationKey {
  const { beamWidth, beamLength, flashAttn, kvF32, lazyHead } = req.params;
  return {
    method: CALIBRATION_METHOD,
    model: fileStamp(resolve(req.model.path)),
    drafter: req.drafter ? fileStamp(resolve(req.drafter.path)) : null,
    library: { ...fileStamp(libraryPath()), version: nativeVersion() },
    cpu: cpus()[0]?.model.trim() ?? "unknown",
    cores,
    counts,
    session: { ...req.modelSettings, beamWidth, beamLength, flashAttn, kvF32, lazyHead },
  };
}

/** ", cached in PATH", or why not: a cache that cannot be written costs the next start a
 *  measurement, nothing else. */
function save(path: string, entry: CacheEntry): string {
  try {
    writeCalibration(path, entry);
    return `, cached in ${path}`;
  } catch (e) {
    return `, not cached (${e instanceof Error ? e.message : e})`;
  }
}

function measure(req: CalibrateRequest): Promise<ThreadTiming[]> {
  const worker = new Worker(WORKER_URL);
  return new Promise<ThreadTiming[]>((done, fail) => {
    worker.onmessage = (ev: MessageEvent<CalibrateReply>) => {
      const m = ev.data;
      if (m.t === "done") done(m.table);
      else fail(new EngineError("internal", `measuring thread counts: ${m.message}`));
    };
    worker.onerror = (ev: ErrorEvent) => fail(new EngineError("internal", `thread calibration worker failed: ${ev.message}`));
    worker.postMessage(req);
  }).finally(() => worker.terminate());
}
