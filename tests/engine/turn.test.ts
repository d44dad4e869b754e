// turn.test.ts - the queue's order (src/engine/turn.ts): short prompts overtake long ones that
// arrived less than the long one's own prefill time earlier, never a long one that has waited
// longer than that, and equal turns keep arrival order.
import { describe, expect, test } from "vitest";
import type { Generation } from "../../src/engine/generation.ts";
import { takeNext, turnOf } from "../../src/engine/turn.ts";

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
