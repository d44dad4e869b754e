// logprobs.ts - engine log-probs in OpenAI's two shapes: chat's `logprobs.content[]` (token,
// logprob, bytes, top_logprobs) and legacy completions' parallel arrays (tokens,
// token_logprobs, top_logprobs, text_offset). A token's own text may be a partial UTF-8
// sequence; `bytes` carries the exact bytes and `token` their lossy decoding.
import type { TokenBytes } from "./detokenizer.ts";
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

export interface CompletionLogprobs {
  tokens: string[];
  token_logprobs: number[];
  top_logprobs: Record<string, number>[] | null;
  text_offset: number[];
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

  /** offsetBase: characters before the completion in `text` (the echoed prompt). */
  completion(tokens: readonly ReleasedToken[], offsetBase: number): CompletionLogprobs {
    return {
      tokens: tokens.map((t) => lossy.decode(this.tokenBytes(t.token))),
      token_logprobs: tokens.map((t) => t.logprob?.logprob ?? 0),
      top_logprobs:
        this.top > 0
          ? tokens.map((t) =>
              Object.fromEntries((t.logprob?.top ?? []).slice(0, this.top).map((a) => [lossy.decode(this.tokenBytes(a.token)), a.logprob])),
            )
          : null,
      text_offset: tokens.map((t) => offsetBase + t.offset),
    };
  }
}
