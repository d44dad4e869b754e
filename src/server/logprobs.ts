// logprobs.ts - engine log-probs in OpenAI's two shapes: chat's `logprobs.content[]` (token,
// logprob, bytes, top_logprobs) and legacy completions' parallel arrays (tokens,
// token_logprobs, top_logprobs, text_offset). A token's own text may be a partial UTF-8
// sequence; `bytes` carries the exact bytes and `token` their lossy decoding.
import type { TokenBytes } from "./detokenizer.ts";
import type { TokenLogprob } from "../engine/types.ts";
import type { ReleasedToken } from "./choice-text.ts";

export interface ChatTopLogprob {
  token: string;
  logprob: number;
  bytes: number[];
}
export interface ChatTokenLogprob extends ChatTopLogprob {
  top_logprobs: ChatTopLogprob[];
}
export interface ChatLogprobs {
  content: ChatTokenLogprob[];
  refusal: null;
}

/** null entries: the first echoed prompt token, which nothing precedes */
export interface CompletionLogprobs {
  tokens: string[];
  token_logprobs: (number | null)[];
  top_logprobs: (Record<string, number> | null)[] | null;
  text_offset: number[];
}

/** a's tokens, then b's. */
export function joinLogprobs(a: CompletionLogprobs, b: CompletionLogprobs): CompletionLogprobs {
  return {
    tokens: [...a.tokens, ...b.tokens],
    token_logprobs: [...a.token_logprobs, ...b.token_logprobs],
    top_logprobs: a.top_logprobs && b.top_logprobs ? [...a.top_logprobs, ...b.top_logprobs] : null,
    text_offset: [...a.text_offset, ...b.text_offset],
  };
}

const lossy = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });

/** Engine log-probs to request: the chosen token's needs at least one. */
export function engineProbs(top: number): number {
  return Math.max(1, top);
}

export class LogprobShaper {
  constructor(
    readonly tokenBytes: TokenBytes,
    readonly top: number, // alternatives to report per token
  ) {}

  #entry(token: number, logprob: number): ChatTopLogprob {
    const bytes = this.tokenBytes(token);
    return { token: lossy.decode(bytes), logprob, bytes: [...bytes] };
  }

  chat(tokens: readonly ReleasedToken[]): ChatLogprobs {
    return {
      content: tokens.map((t) => ({
        ...this.#entry(t.token, t.logprob?.logprob ?? 0),
        top_logprobs: (t.logprob?.top ?? []).slice(0, this.top).map((a) => this.#entry(a.token, a.logprob)),
      })),
      refusal: null,
    };
  }

  #top(top: TokenLogprob["top"] | undefined): Record<string, number> {
    return Object.fromEntries((top ?? []).slice(0, this.top).map((a) => [lossy.decode(this.tokenBytes(a.token)), a.logprob]));
  }

  /** offsetBase: characters before the completion in `text` (the echoed prompt). */
  completion(tokens: readonly ReleasedToken[], offsetBase: number): CompletionLogprobs {
    return {
      tokens: tokens.map((t) => lossy.decode(this.tokenBytes(t.token))),
      token_logprobs: tokens.map((t) => t.logprob?.logprob ?? 0),
      top_logprobs: this.top > 0 ? tokens.map((t) => this.#top(t.logprob?.top)) : null,
      text_offset: tokens.map((t) => offsetBase + t.offset),
    };
  }

  /** The echoed prompt: scored[i - 1] is token i's log-prob after the ones before it (the engine's
   *  promptLogprobs); the first token has none (null, as OpenAI's legacy completions report it). */
  prompt(tokens: readonly number[], scored: readonly TokenLogprob[]): CompletionLogprobs {
    const text = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });
    let chars = 0;
    const offsets = tokens.map((t) => {
      const at = chars;
      chars += text.decode(this.tokenBytes(t), { stream: true }).length; // a split character counts once, whole
      return at;
    });
    return {
      tokens: tokens.map((t) => lossy.decode(this.tokenBytes(t))),
      token_logprobs: tokens.map((_, i) => (i === 0 ? null : scored[i - 1]?.logprob ?? null)),
      top_logprobs: this.top > 0 ? tokens.map((_, i) => (i === 0 ? null : this.#top(scored[i - 1]?.top))) : null,
      text_offset: offsets,
    };
  }
}
