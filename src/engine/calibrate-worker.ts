// calibrate-worker.ts - a Bun Worker that times decoding steps at each candidate thread count
// for a loaded model (and drafter), off the main thread so that /health answers meanwhile. The
// model and drafter belong to the main thread; only their pointers cross over.
// Each round opens a fresh session per count (the drafter takes a session's thread count when
// the session opens, so sessions of several counts cannot share it) and times, after one
// warm-up decode: a plain step, chains of 4 and 16 nodes injected with rd_session_step_beams
// (so no drafter is needed), and with a drafter one drafted step. Rounds alternate the order of
// the counts, so a change in the machine's load does not favour one end; the median is kept.
// Counts far slower than the best are dropped after each round, and no round starts once the
// time budget is spent, so a loaded machine does not turn start-up into minutes.
import { Session, type SessionParams } from "../ffi/session.ts";
import type { Pointer } from "../ffi/symbols.ts";
import { stepCost, type ThreadTiming } from "./threads.ts";
import { defaultSampler } from "./types.ts";

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

/** Injected chain: the root (sampled) plus 15 tokens, deterministic and spread over the vocab. */
const LONGEST = 15;

/** A count this many times the best cost after a round is measured no more. */
const SLOW = 2;

/** The median, to the microsecond. */
function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return Math.round(s[Math.floor(s.length / 2)]! * 1000) / 1000;
}

function measure(req: CalibrateRequest): ThreadTiming[] {
  const token = (k: number) => (k * 7919 + 13) % req.nVocab;
  const prompt = [token(1), token(2)];
  const chain = Array.from({ length: LONGEST }, (_, k) => token(100 + k));
  const sampler = { ...defaultSampler, ignore_eos: true };
  const times = new Map(req.counts.map((t) => [t, { plain: [] as number[], v4: [] as number[], v16: [] as number[], draft: [] as number[] }]));
  const table = () => [...times].filter(([, t]) => t.plain.length > 0).map(([threads, t]): ThreadTiming => ({
    threads, plainMs: median(t.plain), verify4Ms: median(t.v4), verify16Ms: median(t.v16),
    draftMs: t.draft.length > 0 ? median(t.draft) : 0, rounds: t.plain.length,
  }));
  const t0 = performance.now();
  let counts = req.counts;
  for (let r = 0; r < req.rounds && counts.length > 0; r++) {
    for (const threads of r % 2 === 0 ? counts : [...counts].reverse()) {
      const s = Session.open(req.model as Pointer, req.drafter as Pointer | null, {
        ...req.params, nCtx: 128, nBatch: 16, nThreads: threads, beamLength: LONGEST, adaptive: false, lookup: 0,
      });
      try {
        const t = times.get(threads)!;
        s.prefill(prompt, sampler);
        s.step(false, 1); // samples the prompt's logits: no decode
        s.step(false, 1); // warm-up: the first decode of a context pays for its setup
        t.plain.push(s.step(false, 1).tVerifyMs);
        t.v4.push(s.stepBeams(chain, 1, 3, 1).tVerifyMs);
        t.v16.push(s.stepBeams(chain, 1, LONGEST, 1).tVerifyMs);
        if (req.drafter !== null) t.draft.push(s.step(true, req.beamLength + 1).tDraftMs);
      } finally {
        s.close();
      }
    }
    if (performance.now() - t0 > req.budgetMs) break;
    // On a loaded machine a count above the free cores can be 10-100x slower (ggml's workers
    // spin in barriers while one of them waits for a core): it cannot win, so stop paying for it.
    const costs = new Map(table().map((t) => [t.threads, stepCost(t, req.speculative)]));
    const best = Math.min(...costs.values());
    counts = counts.filter((t) => costs.get(t)! <= SLOW * best);
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
