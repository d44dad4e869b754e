// llama-paths.js - where node-llama-cpp put the prebuilt llama.cpp libraries for this platform
// and where we extract the matching headers. Shared by the build script and the runtime.
// Packages are looked up in node_modules folders from the repository root upwards, so this
// also works when redrafter itself is installed as a dependency (npx).
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";

const PLATFORM = `${process.platform === "darwin" ? "mac" : process.platform}-${process.arch}`;

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

/** The llama.cpp source bundle that node-llama-cpp ships (release v0.4.0). */
export function llamaBundle(root) {
  const pkg = findPackage(root, "node-llama-cpp");
  if (!pkg) throw new Error("node-llama-cpp is not installed (run npm install)");
  return join(pkg, "llama", "gitRelease.bundle");
}

export function llamaHeadersDir(root) {
  return join(root, "native", "build-deps", "llama.cpp");
}
