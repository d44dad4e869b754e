// stop.test.ts - the stop matcher: a stop string split across pushes never leaks, nothing else
// is held longer than needed, the earliest of several stops wins.
import { describe, expect, it } from "vitest";
import { StopMatcher } from "../../src/server/stop.ts";

/** Feed pieces, return [emitted text, stopped]. */
function feed(stops: string[], pieces: string[]): [string, boolean] {
  const m = new StopMatcher(stops);
  let out = "";
  for (const p of pieces) {
    const r = m.push(p);
    out += r.text;
    if (r.stopped) return [out, true];
  }
  return [out + m.flush(), false];
}

describe("StopMatcher", () => {
  it("cuts at a stop string inside one piece", () => {
    expect(feed(["END"], ["hello END world"])).toEqual(["hello ", true]);
  });

  it("never emits any part of a stop string split across pieces", () => {
    const m = new StopMatcher(["</answer>"]);
    expect(m.push("42 </").text).toBe("42 ");
    expect(m.push("ans").text).toBe("");
    const r = m.push("wer> tail");
    expect(r).toEqual({ text: "", stopped: true });
  });

  it("releases a held tail as soon as it can no longer start the stop string", () => {
    const m = new StopMatcher(["STOP"]);
    expect(m.push("ST").text).toBe("");
    expect(m.push("x").text).toBe("STx");
  });

  it("holds the longest suffix that is a prefix of any stop string", () => {
    const m = new StopMatcher(["abcd", "cx"]);
    expect(m.push("zzabc").text).toBe("zz"); // "abc" could begin "abcd"
    expect(m.push("x").text).toBe("ab"); // "abc"+"x": "cx" matched after "ab"
  });

  it("picks the earliest stop when several match", () => {
    expect(feed(["world", "lo"], ["hello world"])).toEqual(["hel", true]);
  });

  it("flushes held text when generation ends without a stop", () => {
    expect(feed(["<end>"], ["a <e", "n"])).toEqual(["a <en", false]);
  });

  it("matches every split of a stop string over single characters", () => {
    const text = "The answer is 7.\n\nQuestion: next";
    for (let cut = 1; cut < text.length; cut++) {
      const pieces = [text.slice(0, cut), ...text.slice(cut).split("")];
      expect(feed(["\n\nQuestion:"], pieces)).toEqual(["The answer is 7.", true]);
    }
  });

  it("ignores empty stop strings and counts emitted characters", () => {
    const m = new StopMatcher(["", "zz"]);
    m.push("abz");
    expect(m.emitted).toBe(2);
    expect(m.flush()).toBe("z");
    expect(m.emitted).toBe(3);
  });
});
