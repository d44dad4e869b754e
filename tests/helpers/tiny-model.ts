// tiny-model.ts - test fixture shared by the suites: a tiny random llama GGUF made by
// native/build/make-tiny-model and a random ReDrafter for it, in a fresh temp dir. Builds the
// native library first when it (or the generator) is missing.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { Drafter, type DrafterInitParams } from "../../src/ffi/drafter.ts";
import { Model } from "../../src/ffi/model.ts";
import { libraryPath, repoRoot, setNativeLogQuiet } from "../../src/ffi/symbols.ts";
import { afterAll, beforeAll } from "vitest";

export const BUILD_TIMEOUT_MS = 10 * 60_000;

export interface TinyModel {
  dir: string;
  model: string; // tiny-model.gguf
  drafter: string; // tiny-drafter.gguf, random weights, bound to model
  cleanup(): void;
}

/** The generator sits beside the library ($RD_LIBRARY's folder, else native/build). */
function generatorPath(): string {
  return join(dirname(libraryPath()), "make-tiny-model");
}

/** Build native/ with scripts/build-native.js unless the library and generator exist. The build
 *  may fail on targets other suites need (native tests): only these two artefacts matter here.
 *  Can take minutes: call it from a beforeAll with a long timeout (BUILD_TIMEOUT_MS). */
export function ensureNative(): void {
  const built = () => existsSync(libraryPath()) && existsSync(generatorPath());
  if (built()) return;
  // suites run in parallel threads: one builds, the others wait for its lock to go
  const lock = join(tmpdir(), `redrafter-build-${Bun.hash(repoRoot).toString(16)}.lock`);
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      const age = Date.now() - (statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
      if (age > 15 * 60_000) rmSync(lock, { recursive: true, force: true }); // a build that died
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 250);
      if (built()) return;
    }
  }
  let log = "";
  try {
    execFileSync("node", [join(repoRoot, "scripts", "build-native.js")], { cwd: repoRoot, stdio: "pipe" });
  } catch (e) {
    log = String((e as { stderr?: Buffer }).stderr ?? e);
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
  if (!built()) throw new Error(`native build did not produce ${libraryPath()} and ${generatorPath()}:\n${log}`);
}

/** seed: weights; vocab: vocabulary size (another size = another target fingerprint). */
export function makeTinyModel(opts: { seed?: number; vocab?: number; drafter?: DrafterInitParams } = {}): TinyModel {
  ensureNative();
  setNativeLogQuiet(true);
  const dir = mkdtempSync(join(tmpdir(), "rd-tiny-"));
  const model = join(dir, "tiny-model.gguf");
  const drafter = join(dir, "tiny-drafter.gguf");
  const args = [model, "--seed", String(opts.seed ?? 1), ...(opts.vocab ? ["--vocab", String(opts.vocab)] : [])];
  execFileSync(generatorPath(), args, { stdio: "pipe" });
  using m = Model.load(model);
  Drafter.writeRandom(m, drafter, { seed: 7, ...opts.drafter });
  return { dir, model, drafter, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The tiny model loaded for the calling file's tests (batch-variant mode: trees of several beams
 *  on f32 KV with flash attention off), closed and removed after them. */
export function loadedTinyModel(): { tiny: TinyModel; model: Model } {
  const ctx = {} as { tiny: TinyModel; model: Model };
  beforeAll(() => {
    ctx.tiny = makeTinyModel();
    ctx.model = Model.load(ctx.tiny.model, { batchInvariant: false });
  }, BUILD_TIMEOUT_MS);
  afterAll(() => {
    ctx.model?.close();
    ctx.tiny?.cleanup();
  });
  return ctx;
}
