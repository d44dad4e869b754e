// ffi-contract.test.ts - the facts src/ffi mirrors from native/include/redrafter.h, read from the
// header's text, so neither side can change alone: every RD_MAX_* constant TypeScript exports,
// every rd_status and rd_finish name the header declares (their values: ffi-layout.test.ts), the
// per-token logprob layout a step writes, and the library's version against package.json.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { defaultSampler } from "../../src/engine/types.ts";
import { Status } from "../../src/ffi/errors.ts";
import { Model } from "../../src/ffi/model.ts";
import * as session from "../../src/ffi/session.ts";
import { nativeVersion, repoRoot } from "../../src/ffi/symbols.ts";
import { loadedTinyModel } from "../helpers/tiny-model.ts";

const header = readFileSync(join(repoRoot, "native", "include", "redrafter.h"), "utf8");

/** `#define NAME value` of the header, for integer values and `(a << b)`. */
function defines(): Map<string, number> {
  const out = new Map<string, number>();
  for (const [, name, value] of header.matchAll(/^#define\s+(RD_\w+)\s+(.+?)\s*$/gm)) {
    const shift = /^\(\s*(\d+)\s*<<\s*(\d+)\s*\)$/.exec(value);
    if (shift) out.set(name, Number(shift[1]) << Number(shift[2]));
    else if (/^\d+$/.test(value)) out.set(name, Number(value));
  }
  return out;
}

/** The enumerators of `typedef enum <tag> { ... }` in the header. */
function enumerators(tag: string): string[] {
  const body = new RegExp(`typedef enum ${tag} \\{([^}]*)\\}`).exec(header)?.[1];
  if (!body) throw new Error(`redrafter.h has no enum ${tag}`);
  return [...body.replace(/\/\*[\s\S]*?\*\//g, "").matchAll(/\b(RD_\w+)\s*=/g)].map((m) => m[1]);
}

describe("redrafter.h and src/ffi", () => {
  test("every RD_MAX_* constant src/ffi/session.ts exports is the header's", () => {
    const mirrored = Object.entries(session).filter(([name]) => name.startsWith("RD_MAX_"));
    expect(mirrored.map(([name]) => name)).toEqual(
      expect.arrayContaining(["RD_MAX_BEAMS", "RD_MAX_BEAM_LENGTH", "RD_MAX_PROBS"]),
    );
    const d = defines();
    for (const [name, value] of mirrored) expect([name, d.get(name)]).toEqual([name, value]);
  });

  test("every rd_status and rd_finish name of the header has a TypeScript entry", () => {
    expect(enumerators("rd_status").sort()).toEqual(Object.keys(Status).sort());
    expect(enumerators("rd_finish").sort()).toEqual(Object.keys(session.Finish).map((k) => `RD_FINISH_${k}`).sort());
  });
});

describe("libredrafter", () => {
  const fx = loadedTinyModel();

  test("rd_version() starts with package.json's version", () => {
    const pkg = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as { version: string };
    expect(nativeVersion().split(" ")[0]).toBe(pkg.version);
  });

  test("a greedy step's logprobs: per token its logprob, then n_probs (id, logprob) pairs, the best first", () => {
    const nProbs = 3;
    const stride = 1 + 2 * nProbs;
    using s = session.Session.open(fx.model, null, { nThreads: 1, beamWidth: 2, beamLength: 3 });
    s.prefill(fx.model.tokenize("Once upon a time"), { ...defaultSampler, n_probs: nProbs });
    const tokens: number[] = [];
    const lp: number[] = [];
    while (tokens.length < 8) {
      const r = s.step(true, 8 - tokens.length);
      tokens.push(...r.tokens);
      lp.push(...(r.logprobs ?? []));
      if (r.finish !== session.Finish.NONE) break;
    }
    expect(lp).toHaveLength(tokens.length * stride);
    tokens.forEach((tok, i) => {
      const row = lp.slice(i * stride, (i + 1) * stride);
      expect(row[1]).toBe(tok); // greedy: the chosen token is the most likely one
      expect(row[2]).toBe(row[0]);
      for (let k = 1; k < nProbs; k++) expect(row[2 + 2 * k]).toBeLessThanOrEqual(row[2 * k]);
    });
  });
});
