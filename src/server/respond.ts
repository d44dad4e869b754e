// respond.ts - a Run to an HTTP response, streamed (SSE chunks, usage chunk,
// [DONE]) or whole (one JSON body). The endpoint supplies how one choice looks (EndpointShape);
// everything else - envelope, usage, the `redrafter` stats, errors before and during the
// stream, cancellation, the request timeout - is the same for chat and legacy completions.
import type { Context } from "hono";
import type { ReleasedToken } from "./choice-text.ts";
import { setIdleTimeout } from "./connection.ts";
import type { Metrics } from "./metrics.ts";
import type { ChoiceDelta, FinishReason, Run } from "./run.ts";
import { KEEPALIVE_MS, sseResponse } from "./sse.ts";
import { redrafterStats, usageOf } from "./usage.ts";

/** One choice, accumulated over the whole generation. */
export interface ChoiceAcc {
  index: number;
  text: string;
  tokens: ReleasedToken[];
  finish: FinishReason | null;
}

export interface EndpointShape {
  object: string; // "chat.completion" | "text_completion"
  chunkObject: string; // "chat.completion.chunk" | "text_completion"
  /** Chunk choice sent before any text (chat: the assistant role). */
  streamStart?(index: number): object;
  streamChoice(d: ChoiceDelta): object;
  choice(acc: ChoiceAcc): object;
}

export interface ResponseMeta {
  id: string;
  model: string;
  created: number;
  promptTokens: number;
  choices: number; // indexes 0..choices-1
  stream: boolean;
  includeUsage: boolean;
}

/** Whether `p` settled within ms (false: still pending; Infinity waits for it); rethrows its
 *  rejection. */
async function within(p: Promise<void>, ms: number): Promise<boolean> {
  if (ms === Infinity) {
    await p;
    return true;
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([p.then(() => true), new Promise<boolean>((r) => (timer = setTimeout(r, ms, false)))]);
  } finally {
    clearTimeout(timer);
  }
}

export async function respond(c: Context, run: Run, shape: EndpointShape, meta: ResponseMeta, metrics: Metrics): Promise<Response> {
  const envelope = (object: string) => ({ id: meta.id, object, created: meta.created, model: meta.model });
  c.var.state.lifetimes.track(run);
  // a generation's queue wait, prefill and stream may be silent far longer than an idle
  // connection may; --request-timeout bounds it instead
  setIdleTimeout(c, 0);
  // errors before the first step (queue full, bad grammar, a timeout in the queue) are plain HTTP
  // errors; but a stream whose first step is slow starts anyway, with keepalives, and reports a
  // later failure as an error event
  let ready: boolean;
  try {
    ready = await within(run.ready, meta.stream ? KEEPALIVE_MS : Infinity);
  } catch (err) {
    run.cancel();
    throw err;
  }
  if (ready && run.failure !== null) throw run.failure;

  if (!meta.stream) {
    const accs: ChoiceAcc[] = Array.from({ length: meta.choices }, (_, index) => ({ index, text: "", tokens: [], finish: null }));
    for await (const d of run.deltas()) {
      const a = accs[d.index]!;
      a.text += d.text;
      a.tokens.push(...d.tokens);
      a.finish = d.finish ?? a.finish;
    }
    const usage = usageOf(meta.promptTokens, run.stats);
    metrics.usage(usage);
    return c.json({ ...envelope(shape.object), choices: accs.map((a) => shape.choice(a)), usage, redrafter: redrafterStats(run) });
  }

  return sseResponse(
    c,
    async (sink) => {
      if (!ready) {
        sink.keepalive(); // silent for KEEPALIVE_MS already
        await run.ready;
      }
      const usageField = meta.includeUsage ? { usage: null } : {};
      const chunk = (choices: object[]) => ({ ...envelope(shape.chunkObject), choices, ...usageField });
      if (shape.streamStart) for (let i = 0; i < meta.choices; i++) sink.send(chunk([shape.streamStart(i)]));
      // the last finishing chunk waits for the totals, so the stats ride on the final chunk
      let held: object | null = null;
      try {
        for await (const d of run.deltas()) {
          if (sink.closed) break;
          if (d.finish === null) {
            if (d.text || d.tokens.length) sink.send(chunk([shape.streamChoice(d)]));
            continue;
          }
          if (held) sink.send(held);
          held = chunk([shape.streamChoice(d)]);
        }
      } catch (err) {
        if (held) sink.send(held); // a choice that did finish says so before the error
        throw err;
      }
      const usage = usageOf(meta.promptTokens, run.stats);
      metrics.usage(usage);
      const stats = redrafterStats(run);
      if (meta.includeUsage) {
        if (held) sink.send(held);
        sink.send({ ...envelope(shape.chunkObject), choices: [], usage, redrafter: stats });
      } else if (held) {
        sink.send({ ...held, redrafter: stats });
      }
    },
    () => run.cancel(),
  );
}
