// llama-paths.js - where the build finds llama.cpp: the prebuilt libraries (the runtime's own
// lookup, src/ffi/llama-paths.js), the source bundle node-llama-cpp ships and the headers
// extracted from it.
import { join } from "node:path";
import { findPackage } from "../src/ffi/llama-paths.js";

export { findPackage, llamaLibDir } from "../src/ffi/llama-paths.js";

/** The llama.cpp source bundle that node-llama-cpp ships (release v0.4.0). */
export function llamaBundle(root) {
  const pkg = findPackage(root, "node-llama-cpp");
  if (!pkg) throw new Error("node-llama-cpp is not installed (run npm install)");
  return join(pkg, "llama", "gitRelease.bundle");
}

export function llamaHeadersDir(root) {
  return join(root, "native", "build-deps", "llama.cpp");
}
