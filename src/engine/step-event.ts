// step-event.ts - a native step's output (StepOutput, as a slot worker posts it) turned into the
// StepEvent the engine's callers read: counters renamed to their wire names, log-probs decoded
// from the native buffer, and the end-of-generation token dropped.
import { stepLogprobs, type StepOutput } from "../ffi/session.ts";
import type { StepEvent, StepStats } from "./types.ts";

/** A step's counters; all zero when there was no step (a cancel before the first). */
export function stepStats(o: StepOutput | undefined): StepStats {
  if (!o) {
    return {
      n_drafted: 0, n_tree: 0, n_accepted: 0, target_calls: 0, t_draft_ms: 0, t_verify_ms: 0, t_other_ms: 0, n_head: 0, t_head_ms: 0,
      n_copy: 0, n_copy_accepted: 0,
    };
  }
  return {
    n_drafted: o.nDrafted, n_tree: o.nTree, n_accepted: o.nAccepted, target_calls: o.targetCalls,
    t_draft_ms: o.tDraftMs, t_verify_ms: o.tVerifyMs, t_other_ms: o.tOtherMs, n_head: o.nHead, t_head_ms: o.tHeadMs,
    n_copy: o.nCopy, n_copy_accepted: o.nCopyAccepted,
  };
}

/** A step as the gateway sees it: the EOG token that ended generation is not part of it. */
export function stepEvent(out: StepOutput, finish: StepEvent["finish"], nProbs: number, isEog: (t: number) => boolean): StepEvent {
  const tokens = out.tokens;
  const logprobs = stepLogprobs(out, nProbs);
  if (finish === "stop" && tokens.length > 0 && isEog(tokens[tokens.length - 1]!)) {
    tokens.pop();
    logprobs?.pop();
  }
  return { tokens, logprobs, finish, stats: stepStats(out) };
}

/** The event that closes a generation without a step of its own (cancelled, or length after a
 *  failed step): no tokens, the counters of the step that was cut, if any. */
export function closingEvent(finish: "cancelled" | "length", last: StepOutput | undefined): StepEvent {
  return { tokens: [], logprobs: null, finish, stats: stepStats(last) };
}
