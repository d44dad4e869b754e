// llama-paths.js - where node-llama-cpp put the prebuilt llama.cpp libraries for this platform
// and where we extract the matching headers. Shared by the build script and the runtime.
import { existsSync } from "node:fs";
import { join } from "node:path";

const PLATFORM = `${process.platform === "darwin" ? "mac" : process.platform}-${process.arch}`;

// RD_LLAMA_VARIANT=cuda picks the CUDA build when its package is installed; default CPU
// (+ Metal on macOS, which the mac-arm64-metal package carries).
export function llamaLibDir(root) {
  const variant = process.env.RD_LLAMA_VARIANT ?? "";
  const candidates = variant
    ? [[`${PLATFORM}-${variant}`, `.${variant}`]]
    : [[PLATFORM, ""], [`${PLATFORM}-metal`, ""]];
  for (const [pkg, suffix] of candidates) {
    const dir = join(root, "node_modules", "@node-llama-cpp", pkg, "bins", pkg);
    if (existsSync(dir)) return { dir, suffix };
  }
  throw new Error(`no prebuilt llama.cpp for ${PLATFORM}${variant ? "-" + variant : ""} in node_modules/@node-llama-cpp`);
}

export function llamaHeadersDir(root) {
  return join(root, "native", "build-deps", "llama.cpp");
}
