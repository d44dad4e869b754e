// choice-text.ts - one choice's generated tokens to the text deltas a client may see: UTF-8
// safe decoding, stop strings held back and cut, and each token's log-probs released together
// with the first character of its text (tokens that fall inside a stop string are never shown).
import type { TokenLogprob } from "../engine/types.ts";
import { Detokenizer, type TokenBytes } from "./detokenizer.ts";
import { StopMatcher } from "./stop.ts";

/** A token whose text (or its start) has been emitted. */
export interface ReleasedToken {
  token: number;
  offset: number; // character offset of its text in the choice's output
  logprob: TokenLogprob | null;
}

export interface TextDelta {
  text: string;
  tokens: ReleasedToken[];
  stopped: boolean; // a stop string matched; the choice is complete
}

export class ChoiceText {
  readonly #detok: Detokenizer;
  readonly #stop: StopMatcher;
  #decoded = 0; // characters decoded so far, stop strings included
  #pending: ReleasedToken[] = [];
  #done = false;
  /** Tokens that count as generated: all of them, up to the one that completed a stop string. */
  completionTokens = 0;

  constructor(tokenBytes: TokenBytes, stops: readonly string[]) {
    this.#detok = new Detokenizer(tokenBytes);
    this.#stop = new StopMatcher(stops);
  }

  push(tokens: readonly number[], logprobs: readonly TokenLogprob[] | null): TextDelta {
    let text = "";
    for (let i = 0; i < tokens.length && !this.#done; i++) {
      this.completionTokens++;
      this.#pending.push({ token: tokens[i]!, offset: this.#decoded, logprob: logprobs?.[i] ?? null });
      const piece = this.#detok.push(tokens[i]!);
      this.#decoded += piece.length;
      const r = this.#stop.push(piece);
      text += r.text;
      if (r.stopped) this.#done = true;
    }
    return { text, tokens: this.#release(), stopped: this.#done };
  }

  /** End of generation (EOS, length, cancel): whatever is held is real text. */
  finish(): TextDelta {
    if (this.#done) return { text: "", tokens: [], stopped: true };
    const tail = this.#detok.flush();
    const r = this.#stop.push(tail);
    this.#done = r.stopped;
    const text = r.text + (r.stopped ? "" : this.#stop.flush());
    return { text, tokens: this.#release(true), stopped: r.stopped };
  }

  /** Tokens whose text started before the emitted end; on a stop, the rest are dropped. */
  #release(all = false): ReleasedToken[] {
    const end = this.#stop.emitted;
    const n = all && !this.#done ? this.#pending.length : this.#pending.findIndex((t) => t.offset >= end);
    const cut = n < 0 ? this.#pending.length : n;
    const out = this.#pending.slice(0, cut);
    this.#pending = this.#done ? [] : this.#pending.slice(cut);
    return out;
  }
}
