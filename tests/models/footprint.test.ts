// footprint.test.ts - the GGUF header reader against what make-tiny-model wrote (and refusing
// what is not a GGUF), and the memory estimate: the formula of footprint.ts worked by hand for
// the tiny model, and each term moving with its setting.
import { statSync, truncateSync, copyFileSync, writeFileSync } from "node:fs";
import { totalmem } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { estimateModelBytes, memoryBudgetBytes } from "../../src/models/footprint.ts";
import { readGgufHeader } from "../../src/models/gguf-header.ts";
import { BUILD_TIMEOUT_MS, makeTinyModel, type TinyModel } from "../helpers/tiny-model.ts";

let tiny: TinyModel;
beforeAll(() => {
  tiny = makeTinyModel({ vocab: 600 });
}, BUILD_TIMEOUT_MS);
afterAll(() => tiny?.cleanup());

const MiB = 1024 * 1024;

describe("readGgufHeader", () => {
  it("reads the hyper-parameters make-tiny-model writes, and the token list by its length", () => {
    const h = readGgufHeader(tiny.model);
    expect(h.get("general.architecture")).toBe("llama");
    expect([h.get("llama.block_count"), h.get("llama.embedding_length"), h.get("llama.attention.head_count"), h.get("llama.attention.head_count_kv")]).toEqual([2, 64, 4, 2]);
    expect(h.get("llama.context_length")).toBe(2048);
    expect(h.get("tokenizer.ggml.tokens")).toEqual({ length: 600 });
    expect(readGgufHeader(tiny.drafter).get("general.architecture")).toBe("redrafter");
  });

  it("refuses a file that is not a GGUF, and one cut inside its header", () => {
    const junk = join(tiny.dir, "junk.gguf");
    writeFileSync(junk, "definitely not a model");
    expect(() => readGgufHeader(junk)).toThrow(/is not a GGUF file/);
    const cut = join(tiny.dir, "cut.gguf");
    copyFileSync(tiny.model, cut);
    truncateSync(cut, 200);
    expect(() => readGgufHeader(cut)).toThrow(/header ends early/);
  });
});

describe("estimateModelBytes", () => {
  it("is the files, the vocabulary tables, the KV cache and 16 MiB per slot", () => {
    const files = statSync(tiny.model).size + statSync(tiny.drafter).size;
    const vocabTables = 600 * 64 * 2;
    // 2 layers x 2 KV heads x (16 + 16) per token, f16
    const kvPerTokenF16 = 2 * 2 * 32 * 2;
    const est = (o: Partial<Parameters<typeof estimateModelBytes>[1]> = {}) =>
      estimateModelBytes(tiny.model, { drafter: tiny.drafter, nCtx: 1024, slots: 1, kvF32: false, ...o });
    expect(est()).toBe(files + vocabTables + 1024 * kvPerTokenF16 + 16 * MiB);
    expect(est({ slots: 3 })).toBe(files + vocabTables + 3 * (1024 * kvPerTokenF16 + 16 * MiB));
    expect(est({ kvF32: true }) - est()).toBe(1024 * kvPerTokenF16);
    expect(est({ nCtx: 0 })).toBe(est({ nCtx: 2048 })); // 4096 capped at the trained 2048
    expect(est() - est({ drafter: null })).toBe(statSync(tiny.drafter).size);
  });

  it("takes the budget as given, else 80% of the memory there is", () => {
    expect(memoryBudgetBytes(512)).toBe(512 * MiB);
    const auto = memoryBudgetBytes(0);
    expect(auto).toBeGreaterThan(0);
    expect(auto).toBeLessThanOrEqual(0.8 * totalmem());
  });
});
