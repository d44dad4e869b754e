// detokenizer.ts - token ids to text, incrementally. A token's bytes may end inside a UTF-8
// sequence (byte-fallback vocabularies split emoji and CJK across tokens), so the bytes go
// through one streaming TextDecoder that keeps the unfinished sequence until the next token.

export type TokenBytes = (token: number) => Uint8Array;

export class Detokenizer {
  readonly #decoder = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });

  constructor(readonly tokenBytes: TokenBytes) {}

  /** Text completed by this token: "" while a code point is still open. */
  push(token: number): string {
    return this.#decoder.decode(this.tokenBytes(token), { stream: true });
  }

  /** End of stream: an unfinished code point becomes U+FFFD. */
  flush(): string {
    return this.#decoder.decode();
  }
}

/** Whole-sequence decode (echo, token prompts). */
export function detokenize(tokenBytes: TokenBytes, tokens: readonly number[]): string {
  const d = new Detokenizer(tokenBytes);
  return tokens.map((t) => d.push(t)).join("") + d.flush();
}
