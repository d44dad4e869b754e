// calibrate-worker.ts - a Bun Worker that times decoding steps at each candidate thread count
// for a loaded model (and drafter), off the main thread so that /health answers meanwhile. The
// model and drafter belong to the main thread; only their pointers cross over.
// Each round opens a fresh session per count (the drafter takes a session's thread count when
// the session opens, so sessions of several counts cannot share it) and times, after one
// warm-up decode: a plain step, chains of 4 and 16 nodes injected with rd_session_step_beams
// (so no drafter is needed), and with a drafter one drafted step. Rounds alternate the order of
// the counts, so a change in the machine's load does not favour one end. The mean is kept, not
// the median: a count above the free cores collapses now and then (ggml's workers spin in
// barriers while one of them waits for a core: on a 2-core machine with another process busy,
// Gemma 3 270M generated 5-16 tokens/s at 2 threads against 63 at 1), and the expected cost
// must count those collapses, which a median hides.
// A count far slower than the best is dropped (at its first such step, or after a round), and
// no round starts once the time budget is spent, so a loaded machine does not turn start-up
// into minutes.
import { Session, type SessionParams } from "../ffi/session.ts";
import type { Pointer } from "../ffi/symbols.ts";
import { stepCost, type ThreadTiming } from "./threads.ts";
import { VerifyTimer } from "./verify-timing.ts";

export interface CalibrateRequest {
  model: number;
  drafter: number | null;
  nVocab: number;
  counts: number[];
  rounds: number; // at most; fewer once budgetMs has passed
  budgetMs: number; // no round starts after this long
  speculative: boolean; // how steps are weighed (stepCost)
  beamLength: number; // L: the tokens a drafted step drafts
  params: SessionParams; // the engine's session settings (threads, shape and lookup are set here)
}

export type CalibrateReply =
  | { t: "done"; table: ThreadTiming[] }
  | { t: "failed"; message: string };

/** The longest chain verified: the root (sampled) plus 15 injected tokens. */
const LONGEST = 16;

/** A step this many times the fastest of its kind so far ends its count's measurement (the
 *  count is dropped); after a round, so does a cost this many times the best count's. A count
 *  above the free cores can be 10-100x slower on a loaded machine (ggml's workers spin in
 *  barriers while one of them waits for a core): it cannot win, so stop paying for it. */
const SLOW_STEP = 4;
const SLOW_COST = 2;

type Kind = "warm" | "plain" | "v4" | "v16" | "draft";

/** The mean, to the microsecond; null without samples. */
function mean(xs: number[]): number | null {
  if (xs.length === 0) return null;
  return Math.round((xs.reduce((a, b) => a + b, 0) / xs.length) * 1000) / 1000;
}

function measure(req: CalibrateRequest): ThreadTiming[] {
  const kinds: Kind[] = ["warm", "plain", "v4", "v16", "draft"];
  const times = new Map(req.counts.map((t) => [t, Object.fromEntries(kinds.map((k) => [k, [] as number[]])) as Record<Kind, number[]>]));
  const fastest = Object.fromEntries(kinds.map((k) => [k, Infinity])) as Record<Kind, number>;
  const table = () => [...times].map(([threads, t]): ThreadTiming => ({
    threads, plainMs: mean(t.plain), verify4Ms: mean(t.v4), verify16Ms: mean(t.v16),
    draftMs: req.drafter === null ? 0 : mean(t.draft), rounds: t.plain.length,
  }));
  const t0 = performance.now();
  let counts = req.counts;
  for (let r = 0; r < req.rounds; r++) {
    const dropped = new Set<number>();
    for (const threads of r % 2 === 0 ? counts : [...counts].reverse()) {
      const t = times.get(threads)!;
      // record a step; false when it was far slower than the fastest of its kind
      const keep = (kind: Kind, ms: number) => {
        t[kind].push(ms);
        fastest[kind] = Math.min(fastest[kind], ms);
        return ms <= SLOW_STEP * fastest[kind];
      };
      const s = Session.open(req.model as Pointer, req.drafter as Pointer | null, {
        ...req.params, nCtx: 128, nBatch: 16, nThreads: threads, beamLength: LONGEST - 1, adaptive: false, lookup: 0,
      });
      try {
        const timer = new VerifyTimer(s, req.nVocab, LONGEST);
        // the warm-up pays for the context's first decode; its time only serves the check
        const fine = keep("warm", timer.verifyMs(1)) &&
          keep("plain", timer.verifyMs(1)) &&
          keep("v4", timer.verifyMs(4)) &&
          keep("v16", timer.verifyMs(LONGEST)) &&
          (req.drafter === null || keep("draft", s.step(true, req.beamLength + 1).tDraftMs));
        if (!fine) dropped.add(threads);
      } finally {
        s.close();
      }
    }
    const costs = new Map(table().map((t) => [t.threads, stepCost(t, req.speculative)]));
    const best = Math.min(...costs.values());
    counts = counts.filter((t) => !dropped.has(t) && costs.get(t)! <= SLOW_COST * best);
    if (counts.length < 2 || performance.now() - t0 > req.budgetMs) break; // nothing left to compare, or no time
  }
  return table();
}

self.onmessage = (ev: MessageEvent<CalibrateRequest>) => {
  let reply: CalibrateReply;
  try {
    reply = { t: "done", table: measure(ev.data) };
  } catch (e) {
    reply = { t: "failed", message: e instanceof Error ? e.message : String(e) };
  }
  postMessage(reply);
};
