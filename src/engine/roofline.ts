// roofline.ts - the best speedup any drafter could reach on this model and machine, from the
// cost of verification (issue 12, DESIGN section 4's measures).
//
// c(n) = the time of one target call that verifies n tree nodes and pays the output layer for
// every one of them: a chain of n-1 injected tokens after the root, with the LM head run for
// every node (lazyHead off), which is what a step costs when the walk reaches all n nodes.
// c(1) is a plain decoding step. A perfect drafter that costs nothing makes every node of a chain
// of n nodes a token, so the best speedup is
//
//   S* = max over n of  n * c(1) / c(n)
//
// A configuration's measured acceptance tau (tokens per target call) with a mean tree of N nodes
// would give tau * c(1) / c(N) if drafting were free: the gap between that and the measured
// speedup is the drafter's (and the walk's) own cost, the gap to S* is acceptance.
import type { Model } from "../ffi/model.ts";
import { Session, type SessionParams } from "../ffi/session.ts";
import { VerifyTimer } from "./verify-timing.ts";

export interface Roofline {
  curveMs: number[]; // [n - 1] = c(n), the median over the repetitions
  bestSpeedup: number; // S*
  bestNodes: number; // the n that gives it
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

/** Measure c(1..maxNodes) on a session of its own (model loaded by the caller, no drafter). */
export function measureRoofline(model: Model, params: SessionParams, maxNodes = 16, reps = 5): Roofline {
  const s = Session.open(model, null, {
    ...params, nCtx: 64 + reps * maxNodes * 2, beamWidth: 1, beamLength: Math.max(1, maxNodes - 1),
    adaptive: false, lookup: 0, lazyHead: false,
  });
  const samples: number[][] = Array.from({ length: maxNodes }, () => []);
  try {
    const timer = new VerifyTimer(s, model.nVocab, maxNodes);
    timer.verifyMs(1); // the context's first decode, not counted
    for (let r = 0; r < reps; r++) {
      // alternate the order so that a change in the machine's load does not favour one end
      const order = Array.from({ length: maxNodes }, (_, i) => (r % 2 === 0 ? i + 1 : maxNodes - i));
      for (const n of order) samples[n - 1]!.push(timer.verifyMs(n));
    }
  } finally {
    s.close();
  }
  const curveMs = samples.map(median);
  let bestSpeedup = 1;
  let bestNodes = 1;
  for (let n = 2; n <= maxNodes; n++) {
    const sp = (n * curveMs[0]!) / curveMs[n - 1]!;
    if (sp > bestSpeedup) [bestSpeedup, bestNodes] = [sp, n];
  }
  return { curveMs, bestSpeedup, bestNodes };
}

/** c(n) at a fractional node count, linear between the measured points (clamped at the ends). */
export function costAt(curveMs: number[], nodes: number): number {
  const x = Math.min(Math.max(nodes, 1), curveMs.length);
  const lo = Math.floor(x);
  const hi = Math.min(lo + 1, curveMs.length);
  return curveMs[lo - 1]! + (x - lo) * (curveMs[hi - 1]! - curveMs[lo - 1]!);
}
