// respond.ts - a Run to an HTTP response, streamed (SSE chunks, usage chunk,
// [DONE]) or whole (one JSON body). The endpoint supplies how one choice looks (EndpointShape);
// everything else - envelope, usage, the `redrafter` stats, errors before and during the
// stream, cancellation - is the same for chat and legacy completions.
import type { Context } from "hono";
import type { ChoiceDelta, FinishReason, Run } from "./run.ts";
import type { ReleasedToken } from "./choice-text.ts";
import type { Metrics } from "./metrics.ts";
import { sseResponse } from "./sse.ts";
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

export async function respond(c: Context, run: Run, shape: EndpointShape, meta: ResponseMeta, metrics: Metrics): Promise<Response> {
  const envelope = (object: string) => ({ id: meta.id, object, created: meta.created, model: meta.model });
  // errors before the first step (queue full, bad grammar) are plain HTTP errors
  try {
    await run.ready;
  } catch (err) {
    run.cancel();
    throw err;
  }

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
      const usageField = meta.includeUsage ? { usage: null } : {};
      const chunk = (choices: object[]) => ({ ...envelope(shape.chunkObject), choices, ...usageField });
      if (shape.streamStart) for (let i = 0; i < meta.choices; i++) sink.send(chunk([shape.streamStart(i)]));
      // the last finishing chunk waits for the totals, so the stats ride on the final chunk
      let held: object | null = null;
      for await (const d of run.deltas()) {
        if (sink.closed) break;
        if (d.finish === null) {
          if (d.text || d.tokens.length) sink.send(chunk([shape.streamChoice(d)]));
          continue;
        }
        if (held) sink.send(held);
        held = chunk([shape.streamChoice(d)]);
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
