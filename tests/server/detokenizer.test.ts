// detokenizer.test.ts - incremental detokenization never emits a broken code point, whatever
// the split of UTF-8 bytes over tokens; choice text aligns log-probs with emitted text.
import { describe, expect, it } from "vitest";
import { ChoiceText } from "../../src/server/choice-text.ts";
import { Detokenizer, detokenize } from "../../src/server/detokenizer.ts";

const enc = new TextEncoder();

/** A fake vocabulary where each token id is a byte string. */
function vocab(pieces: Uint8Array[]) {
  return (t: number) => pieces[t]!;
}

describe("Detokenizer", () => {
  it("holds a code point split over tokens until it is complete", () => {
    const euro = enc.encode("€"); // e2 82 ac
    const tb = vocab([enc.encode("a"), euro.slice(0, 1), euro.slice(1, 2), euro.slice(2), enc.encode("b")]);
    const d = new Detokenizer(tb);
    expect([0, 1, 2, 3, 4].map((t) => d.push(t))).toEqual(["a", "", "", "€", "b"]);
    expect(d.flush()).toBe("");
  });

  it("round-trips any split of a multilingual text into byte tokens", () => {
    const text = "héllo 世界 🦙 ok";
    const bytes = enc.encode(text);
    for (let size = 1; size <= 5; size++) {
      const pieces: Uint8Array[] = [];
      for (let i = 0; i < bytes.length; i += size) pieces.push(bytes.slice(i, i + size));
      const d = new Detokenizer(vocab(pieces));
      const parts = pieces.map((_, i) => d.push(i));
      for (const p of parts) expect(p).not.toContain("\uFFFD");
      expect(parts.join("") + d.flush()).toBe(text);
    }
  });

  it("turns a dangling partial sequence into U+FFFD at the end", () => {
    const tb = vocab([enc.encode("x"), new Uint8Array([0xf0, 0x9f])]);
    expect(detokenize(tb, [0, 1])).toBe("x\uFFFD");
  });
});

describe("ChoiceText", () => {
  const lp = (token: number) => ({ token, logprob: -token, top: [] });

  it("cuts a stop string spread over tokens and drops the tokens inside it", () => {
    const pieces = ["Hi", " the", "re", "<", "/s", ">", "more"].map((s) => enc.encode(s));
    const ct = new ChoiceText(vocab(pieces), ["</s>"]);
    const a = ct.push([0, 1, 2, 3], [0, 1, 2, 3].map(lp));
    expect(a.text).toBe("Hi there");
    expect(a.tokens.map((t) => t.token)).toEqual([0, 1, 2]); // "<" held with its text
    const b = ct.push([4, 5, 6], [4, 5, 6].map(lp));
    expect(b).toMatchObject({ text: "", stopped: true, tokens: [] });
    expect(ct.completionTokens).toBe(6); // up to the token completing the stop
  });

  it("releases tokens of a split code point with the character", () => {
    const euro = enc.encode("€");
    const ct = new ChoiceText(vocab([euro.slice(0, 2), euro.slice(2), enc.encode("!")]), []);
    const a = ct.push([0], [lp(0)]);
    expect(a).toMatchObject({ text: "", tokens: [] });
    const b = ct.push([1, 2], [lp(1), lp(2)]);
    expect(b.text).toBe("€!");
    expect(b.tokens.map((t) => [t.token, t.offset])).toEqual([[0, 0], [1, 0], [2, 1]]);
  });

  it("flushes held text and tokens at the end", () => {
    const ct = new ChoiceText(vocab([enc.encode("a<"), enc.encode("/")]), ["</x>"]);
    expect(ct.push([0, 1], null).text).toBe("a");
    const end = ct.finish();
    expect(end.text).toBe("</");
    expect(end.tokens.map((t) => t.token)).toEqual([1]);
  });
});
