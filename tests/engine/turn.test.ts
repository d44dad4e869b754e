// turn.test.ts - the queue's order (src/engine/turn.ts): short prompts overtake long ones that
// arrived less than the long one's own prefill time earlier, never a long one that has waited
// longer than that, and equal turns keep arrival order; the expected wait that admission bounds.
import { describe, expect, test } from "vitest";
import type { Generation } from "../../src/engine/generation.ts";
import { expectedWaitMs, takeNext, turnOf } from "../../src/engine/turn.ts";

const job = (name: string, submittedAt: number, promptTokens: number) =>
  ({ name, submittedAt, req: { prompt: Array<number>(promptTokens).fill(1) } }) as unknown as Generation & { name: string };

const order = (queue: (Generation & { name: string })[], msPerToken: number) => {
  const out: string[] = [];
  for (let next = takeNext(queue, msPerToken); next; next = takeNext(queue, msPerToken)) out.push((next as Generation & { name: string }).name);
  return out;
};

describe("takeNext", () => {
  test("a turn is arrival plus the prompt's expected prefill", () => {
    expect(turnOf(job("a", 100, 50), 2)).toBe(200);
  });

  test("a short request overtakes a long one that arrived just before it", () => {
    // long: 4,000 tokens at 5 ms = 20 s of prefill; the short one came 1 s later
    expect(order([job("long", 0, 4000), job("short", 1000, 20)], 5)).toEqual(["short", "long"]);
  });

  test("a long request that has waited longer than its prefill is not overtaken", () => {
    expect(order([job("long", 0, 4000), job("short", 25_000, 20)], 5)).toEqual(["long", "short"]);
  });

  test("equal turns keep arrival order; an empty queue gives undefined", () => {
    expect(order([job("a", 0, 10), job("b", 0, 10), job("c", 0, 10)], 1)).toEqual(["a", "b", "c"]);
    expect(takeNext([], 1)).toBeUndefined();
  });

  test("a rate that is not a positive number falls back to the default", () => {
    expect(order([job("long", 0, 100), job("short", 50, 1)], Number.NaN)).toEqual(["short", "long"]);
  });
});

describe("expectedWaitMs", () => {
  const running = (submittedAt: number, queueMs: number, promptTokens: number) =>
    ({ ...job("run", submittedAt, promptTokens), queueMs }) as unknown as Generation;

  test("what is left of the running prefills plus the queued prefills ahead, over the slots", () => {
    // rate 2 ms/token, now = 1000: a running prefill of 1000 tokens started at 500 has 1500 ms left;
    // one that started long ago has nothing left; two queued ahead (turns 400 and 600) add 200 + 300
    const r = [running(0, 500, 1000), running(0, 0, 10)];
    const q = [job("a", 200, 100), job("b", 300, 150), job("late", 5000, 10)];
    const me = job("me", 1000, 1);
    expect(expectedWaitMs(me, r, q, 2, 2, 1000)).toBe((1500 + 200 + 300) / 2);
  });

  test("queued requests whose turn comes after this one's do not count", () => {
    const q = [job("long", 0, 10_000)]; // turn 10,000 at 1 ms/token
    expect(expectedWaitMs(job("short", 10, 5), [], q, 1, 1, 20)).toBe(0);
    expect(expectedWaitMs(job("later", 20_000, 5), [], q, 1, 1, 20_000)).toBe(10_000);
  });
});
