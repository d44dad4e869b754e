// stop.ts - stop strings over streamed text. A stop string may arrive split across tokens, so
// the matcher holds back the longest tail of the text that could still begin one: nothing of a
// stop string ever reaches the client, and nothing else is held longer than necessary.

export interface StopResult {
  text: string; // safe to emit now
  stopped: boolean; // a stop string matched; text ends right before it
}

export class StopMatcher {
  readonly #stops: string[];
  #held = "";
  #emitted = 0; // characters released so far

  constructor(stops: readonly string[]) {
    this.#stops = stops.filter((s) => s.length > 0);
  }

  /** Feed newly decoded text. After `stopped`, further input is ignored. */
  push(text: string): StopResult {
    const buf = this.#held + text;
    let cut = -1;
    for (const s of this.#stops) {
      const i = buf.indexOf(s);
      if (i >= 0 && (cut < 0 || i < cut)) cut = i;
    }
    if (cut >= 0) {
      this.#held = "";
      this.#stops.length = 0;
      return this.#release(buf.slice(0, cut), true);
    }
    const keep = this.#partialTail(buf);
    this.#held = buf.slice(buf.length - keep);
    return this.#release(buf.slice(0, buf.length - keep), false);
  }

  /** End of generation: the held tail was not a stop string after all. */
  flush(): string {
    const rest = this.#held;
    this.#held = "";
    return this.#release(rest, false).text;
  }

  /** Characters emitted so far (the offset the next emitted character will have). */
  get emitted(): number {
    return this.#emitted;
  }

  #release(text: string, stopped: boolean): StopResult {
    this.#emitted += text.length;
    return { text, stopped };
  }

  /** Length of the longest suffix of buf that is a proper prefix of some stop string. */
  #partialTail(buf: string): number {
    let best = 0;
    for (const s of this.#stops) {
      for (let n = Math.min(s.length - 1, buf.length); n > best; n--) {
        if (buf.endsWith(s.slice(0, n))) {
          best = n;
          break;
        }
      }
    }
    return best;
  }
}
