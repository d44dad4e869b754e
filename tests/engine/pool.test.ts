// pool.test.ts - EnginePool's rules on real tiny-model engines, with round estimates so that the
// budget arithmetic is plain (10 per model): least recently used idle models go first, a lease
// keeps its model loaded (the load that needs its room is refused "busy", nothing unloaded), a
// model that cannot fit beside the default is "too_large", a failed load fails every request
// that waited on it and the next one tries again, close() closes every engine.
import { copyFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { Engine, type EngineOptions } from "../../src/engine/engine.ts";
import { EnginePool, PoolError, type ModelSpec } from "../../src/engine/pool.ts";
import { BUILD_TIMEOUT_MS, makeTinyModel, type TinyModel } from "../helpers/tiny-model.ts";

let tiny: TinyModel;
beforeAll(() => {
  tiny = makeTinyModel();
}, BUILD_TIMEOUT_MS);
afterAll(() => tiny?.cleanup());

const options = (model: string): EngineOptions => ({
  model, drafter: null, nCtx: 256, beamWidth: 1, beamLength: 1, nGpuLayers: 0, device: null,
  threads: 1, flashAttn: 0, kvF32: false, slots: 1, queueSize: 1, log: () => {},
});

/** A model of the pool: the tiny model's file under its own name; counts its loads. */
function spec(id: string, bytes = 10, file = tiny.model): ModelSpec & { loads: number } {
  const s = {
    id, aliases: [`${id}-alias`], drafter: null, loads: 0,
    estimate: async () => bytes,
    load: async () => {
      s.loads++;
      return Engine.load(options(file));
    },
  };
  return s;
}

async function refusal(p: Promise<unknown>): Promise<string> {
  const e = await p.then(() => null, (err: unknown) => err);
  expect(e).toBeInstanceOf(PoolError);
  return (e as PoolError).code;
}

const states = (pool: EnginePool) => Object.fromEntries(pool.models.map((m) => [m.id, m.state]));

describe("EnginePool", () => {
  test("finds models by id, alias and file name; the default loads at start and the others on first use, once", async () => {
    const specs = [spec("a"), spec("b")];
    const pool = new EnginePool(specs, 100, () => {});
    try {
      expect(pool.ids()).toEqual(["a", "a-alias", "b", "b-alias"]);
      expect([pool.find("b.gguf")?.id, pool.find("b-alias")?.id, pool.find("c")]).toEqual(["b", "b", null]);
      const started = pool.start();
      expect(await refusal(pool.acquire(pool.default))).toBe("loading"); // not waited for: 503 at start
      await started;
      expect(states(pool)).toEqual({ a: "loaded", b: "unloaded" });
      const leases = await Promise.all([1, 2, 3].map(() => pool.acquire(pool.find("b")!)));
      expect(specs[1]!.loads).toBe(1);
      expect(new Set(leases.map((l) => l.engine)).size).toBe(1);
      for (const l of leases) l.release();
      expect(pool.find("b")!.leases).toBe(0);
    } finally {
      await pool.close();
    }
  });

  test("unloads the least recently used idle model, never one held by a lease", async () => {
    const pool = new EnginePool([spec("a"), spec("b"), spec("c"), spec("d")], 30, () => {});
    try {
      await pool.start();
      const use = async (id: string) => (await pool.acquire(pool.find(id)!)).release();
      await use("b");
      await use("c");
      await use("b"); // c is now the least recently used
      await use("d");
      expect(states(pool)).toEqual({ a: "loaded", b: "loaded", c: "unloaded", d: "loaded" });
      expect(pool.find("c")!.evictions).toBe(1);

      // b and d both held: c's load is refused and nothing is unloaded
      const held = [await pool.acquire(pool.find("b")!), await pool.acquire(pool.find("d")!)];
      expect(await refusal(pool.acquire(pool.find("c")!))).toBe("busy");
      expect(states(pool)).toEqual({ a: "loaded", b: "loaded", c: "unloaded", d: "loaded" });
      expect(pool.find("c")!.leases).toBe(0);
      held[0]!.release();
      await use("c"); // b is free now, and went first
      expect(states(pool)).toEqual({ a: "loaded", b: "unloaded", c: "loaded", d: "loaded" });
      held[1]!.release();
    } finally {
      await pool.close();
    }
  });

  test("refuses a model that cannot fit beside the default, unloading nothing", async () => {
    const pool = new EnginePool([spec("a"), spec("b"), spec("huge", 25)], 30, () => {});
    try {
      await pool.start();
      (await pool.acquire(pool.find("b")!)).release();
      expect(await refusal(pool.acquire(pool.find("huge")!))).toBe("too_large");
      expect(states(pool)).toEqual({ a: "loaded", b: "loaded", huge: "unloaded" });
    } finally {
      await pool.close();
    }
  });

  test("a failed load fails the requests that waited on it; the next request loads again", async () => {
    const later = join(tiny.dir, "later.gguf"); // not there yet
    const lines: string[] = [];
    const pool = new EnginePool([spec("a"), spec("later", 10, later)], 100, (m) => lines.push(m));
    try {
      await pool.start();
      const m = pool.find("later")!;
      const codes = await Promise.all([1, 2].map(() => refusal(pool.acquire(m))));
      expect(codes).toEqual(["load_failed", "load_failed"]);
      expect([m.loadFailures, m.state, m.leases]).toEqual([1, "unloaded", 0]);
      expect(lines.join("\n")).toMatch(/model 'later' failed to load: /);
      copyFileSync(tiny.model, later);
      const lease = await pool.acquire(m);
      expect(lease.engine.info.id).toBe("later");
      lease.release();
    } finally {
      await pool.close();
      rmSync(later, { force: true });
    }
  });

  test("close() closes every loaded engine, and refuses later requests", async () => {
    const pool = new EnginePool([spec("a"), spec("b")], 100, () => {});
    await pool.start();
    const b = await pool.acquire(pool.find("b")!);
    b.release();
    const engines = pool.models.map((m) => m.engine!);
    await pool.close();
    expect(states(pool)).toEqual({ a: "unloaded", b: "unloaded" });
    for (const e of engines) expect(() => e.embeddings).toThrow(/shutting down/);
    expect(await refusal(pool.acquire(pool.find("b")!))).toBe("shutting_down");
  });
});
