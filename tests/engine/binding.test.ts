// binding.test.ts - the bun:ffi classes over libredrafter on the tiny random model: metadata and
// tokenizer round trip, deterministic greedy steps, typed native errors, and closed handles
// that throw instead of handing C a stale pointer.
import { describe, expect, test } from "vitest";
import { defaultSampler } from "../../src/engine/types.ts";
import { Drafter } from "../../src/ffi/drafter.ts";
import { NativeError } from "../../src/ffi/errors.ts";
import { Model } from "../../src/ffi/model.ts";
import { Finish, Session } from "../../src/ffi/session.ts";
import { loadedTinyModel } from "../helpers/tiny-model.ts";

const fx = loadedTinyModel();

const exact = { flashAttn: 0, kvF32: true, nThreads: 1, adaptive: false } as const;

function greedy(session: Session, prompt: Int32Array, n: number, draft: boolean): number[] {
  session.prefill(prompt, defaultSampler);
  const out: number[] = [];
  while (out.length < n) {
    const r = session.step(draft, n - out.length);
    out.push(...r.tokens);
    if (r.finish !== Finish.NONE) break;
  }
  return out;
}

describe("Model", () => {
  test("reports the GGUF's shape and metadata", () => {
    expect(fx.model.nVocab).toBeGreaterThanOrEqual(358);
    expect(fx.model.nEmbd).toBe(64);
    expect(fx.model.nCtxTrain).toBeGreaterThan(0);
    expect(fx.model.meta("general.name")).toBe("tiny-random-llama");
    expect(fx.model.meta("no.such.key")).toBeNull();
    expect(typeof fx.model.fingerprint).toBe("bigint");
  });

  test("tokenize and token bytes round-trip the text", () => {
    const text = "Hello world, this is a test.";
    const ids = fx.model.tokenize(text, true);
    expect(ids[0]).toBe(fx.model.bos);
    const bytes = Array.from(ids.subarray(1)).flatMap((t) => Array.from(fx.model.tokenBytes(t)));
    // SentencePiece-style vocabularies add a space prefix that the pieces carry back
    expect(new TextDecoder().decode(Uint8Array.from(bytes)).replace(/^ /, "")).toBe(text);
    expect(fx.model.tokenize(text, false)[0]).not.toBe(fx.model.bos);
    expect(() => fx.model.tokenBytes(fx.model.nVocab + 10)).toThrow(RangeError);
  });

  test("a missing file is a NativeError with the status name and message", () => {
    const err = (() => {
      try {
        Model.load(`${fx.tiny.dir}/missing.gguf`);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(NativeError);
    expect((err as NativeError).code).toBe("RD_ERR_IO");
    expect((err as NativeError).message).toContain("missing.gguf");
  });
});

describe("Session", () => {
  test("greedy decoding is deterministic, with and without drafting", () => {
    using drafter = Drafter.load(fx.tiny.drafter, fx.model);
    using a = Session.open(fx.model, drafter, { ...exact, beamWidth: 3, beamLength: 3 });
    using b = Session.open(fx.model, null, exact);
    const prompt = fx.model.tokenize("Once upon a time");
    const first = greedy(a, prompt, 24, true);
    expect(first).toHaveLength(24);
    expect(greedy(a, prompt, 24, true)).toEqual(first);
    expect(greedy(b, prompt, 24, false)).toEqual(first);
    expect(a.nPast).toBeGreaterThan(prompt.length);
  });

  test("injected beams: the one that matches greedy decoding is accepted whole", () => {
    const L = 4;
    using s = Session.open(fx.model, null, { ...exact, beamWidth: 2, beamLength: L });
    const prompt = fx.model.tokenize("The quick brown fox");
    const ref = greedy(s, prompt, 2 + L, false);
    s.prefill(prompt, defaultSampler);
    expect(s.step(false, 1).tokens).toEqual([ref[0]]);
    const wrong = ref.slice(1, 1 + L).map((t) => (t + 1) % fx.model.nVocab);
    const r = s.stepBeams([...wrong, ...ref.slice(1, 1 + L)], 2, L, 100);
    expect(r.nAccepted).toBe(L);
    expect(r.tokens).toEqual(ref.slice(1, 2 + L));
    expect(r.nTree).toBeGreaterThan(1 + L);
    expect(s.hidden()).toHaveLength(fx.model.nEmbd);
  });

  test("a prompt longer than the context is RD_ERR_CONTEXT_FULL and the session stays usable", () => {
    using s = Session.open(fx.model, null, { ...exact, nCtx: 256 });
    const long = Int32Array.from({ length: s.nCtx + 10 }, (_, i) => 300 + (i % 50));
    expect(() => s.prefill(long, defaultSampler)).toThrow(expect.objectContaining({ code: "RD_ERR_CONTEXT_FULL" }));
    expect(greedy(s, fx.model.tokenize("hi"), 4, false)).toHaveLength(4);
  });

  test("a bad grammar is RD_ERR_GRAMMAR", () => {
    using s = Session.open(fx.model, null, exact);
    const sampler = { ...defaultSampler, grammar: "root ::= (" };
    expect(() => s.prefill(fx.model.tokenize("hi"), sampler)).toThrow(expect.objectContaining({ code: "RD_ERR_GRAMMAR" }));
  });

  test("a grammar complete while EOS is banned ends with Finish.NO_TOKEN (llama.cpp's throw used to abort Bun)", () => {
    using s = Session.open(fx.model, null, exact);
    s.prefill(fx.model.tokenize("hi"), { ...defaultSampler, grammar: 'root ::= "{" [0-9] "}"', ignore_eos: true });
    const out: number[] = [];
    let finish: number = Finish.NONE;
    for (let i = 0; i < 16 && finish === Finish.NONE; i++) {
      const r = s.step(true, 8);
      out.push(...r.tokens);
      finish = r.finish;
    }
    expect(finish).toBe(Finish.NO_TOKEN);
    const bytes = out.flatMap((t) => Array.from(fx.model.tokenBytes(t)));
    expect(new TextDecoder().decode(Uint8Array.from(bytes))).toMatch(/^\{[0-9]\}$/);
  });
});

describe("closed handles", () => {
  test("a closed session throws instead of calling C", () => {
    const s = Session.open(fx.model, null, exact);
    s.close();
    s.close(); // closing twice is a no-op
    expect(() => s.prefill(fx.model.tokenize("hi"), defaultSampler)).toThrow(NativeError);
    expect(() => s.step(false, 1)).toThrow(/Session is closed/);
    expect(() => s.nPast).toThrow(/Session is closed/);
  });

  test("closing a model closes its drafters and sessions first, and the model refuses use", () => {
    const m = Model.load(fx.tiny.model);
    const d = Drafter.load(fx.tiny.drafter, m);
    const s = Session.open(m, d, exact);
    m.close();
    expect(d.closed).toBe(true);
    expect(s.closed).toBe(true);
    expect(() => m.tokenize("hi")).toThrow(/Model is closed/);
    expect(() => m.nVocab).toThrow(NativeError);
    expect(() => s.step(true, 1)).toThrow(/Session is closed/);
    expect(() => Session.open(m, null, exact)).toThrow(/Model is closed/);
    expect(() => Drafter.load(fx.tiny.drafter, m)).toThrow(/Model is closed/);
  });
});
