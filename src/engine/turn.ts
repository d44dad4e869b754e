// turn.ts - which queued generation a freed slot takes next. First come, first served lets one
// long prompt hold every short request behind it for its whole prefill (3-4k-token prompts
// prefilled in 19-24 s on one CPU thread with Gemma 3 270M); shortest first would starve long
// prompts. So a queued generation's turn is its arrival time plus the prefill its prompt would
// take at the engine's measured rate: a short request overtakes a long one that arrived less than
// the long one's own prefill time before it, and no request is overtaken by later arrivals for
// longer than its own prefill would take. A request whose expected wait (expectedWaitMs) is over
// the engine's bound is refused at once (a 429 with Retry-After) rather than queued.
import type { Generation } from "./generation.ts";

/** Prefill cost assumed before the engine has measured one (ms per prompt token). */
export const DEFAULT_PREFILL_MS_PER_TOKEN = 1;

/** The rate to plan with: the one given when it is a positive number, else the default. */
const usable = (msPerToken: number) => (Number.isFinite(msPerToken) && msPerToken > 0 ? msPerToken : DEFAULT_PREFILL_MS_PER_TOKEN);

/** When `job` should start: its submission time plus its prompt's expected prefill time. */
export function turnOf(job: Generation, msPerToken: number): number {
  return job.submittedAt + job.req.prompt.length * msPerToken;
}

/** Remove and return the queued generation whose turn comes first (ties: the earlier arrival). */
export function takeNext(queue: Generation[], msPerToken: number): Generation | undefined {
  if (queue.length === 0) return undefined;
  const rate = usable(msPerToken);
  let best = 0;
  let bestTurn = turnOf(queue[0]!, rate);
  for (let i = 1; i < queue.length; i++) {
    const t = turnOf(queue[i]!, rate);
    if (t < bestTurn) [best, bestTurn] = [i, t];
  }
  return queue.splice(best, 1)[0];
}

/** How long `job` would wait for a slot, counting prefill only: what is left of the running
 *  generations' prefills plus the prefills of the queued ones whose turn comes before its own,
 *  shared by the slots. Decoding time is not counted: how many tokens a generation will produce
 *  is not known in advance. */
export function expectedWaitMs(job: Generation, running: Generation[], queue: Generation[], slots: number, msPerToken: number, now: number): number {
  const rate = usable(msPerToken);
  let work = 0;
  for (const r of running) work += Math.max(0, r.submittedAt + r.queueMs + r.req.prompt.length * rate - now);
  const mine = turnOf(job, rate);
  for (const q of queue) if (turnOf(q, rate) <= mine) work += q.req.prompt.length * rate;
  return work / Math.max(1, slots);
}
