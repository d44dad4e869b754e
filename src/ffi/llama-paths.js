// llama-paths.js - where node-llama-cpp put the prebuilt llama.cpp libraries for this platform:
// the runtime loads the ggml backends from there, the build links against them. Plain JS (with
// llama-paths.d.ts beside it) because the build script runs under Node before anything is built.
// Packages are looked up in node_modules folders from the repository root upwards, so this
// also works when redrafter itself is installed as a dependency (npx).
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";

export const PLATFORM = `${process.platform === "darwin" ? "mac" : process.platform}-${process.arch}`;

/** The first <dir>/node_modules/<name> that exists, from root upwards; null if none. */
export function findPackage(root, name) {
  for (let dir = root; ; dir = dirname(dir)) {
    const candidate = join(dir, "node_modules", name);
    if (existsSync(candidate)) return candidate;
    if (dirname(dir) === dir) return null;
  }
}

// RD_LLAMA_VARIANT=cuda picks the CUDA build when its package is installed; default CPU
// (+ Metal on macOS, which the mac-arm64-metal package carries).
export function llamaLibDir(root) {
  const variant = process.env.RD_LLAMA_VARIANT ?? "";
  const candidates = variant
    ? [[`${PLATFORM}-${variant}`, `.${variant}`]]
    : [[PLATFORM, ""], [`${PLATFORM}-metal`, ""]];
  for (const [pkg, suffix] of candidates) {
    const base = findPackage(root, join("@node-llama-cpp", pkg));
    const dir = base && join(base, "bins", pkg);
    if (dir && existsSync(dir)) return { dir, suffix };
  }
  throw new Error(`no prebuilt llama.cpp for ${PLATFORM}${variant ? "-" + variant : ""} in node_modules/@node-llama-cpp`);
}
