#!/usr/bin/env node
// build-native.js - compile native/ (libredrafter + tools + tests) against the llama.cpp
// headers bundled by node-llama-cpp and its prebuilt libraries. Takes seconds: llama.cpp
// itself is never compiled. Usage: node scripts/build-native.js [--sanitize] [--build-dir D]
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { llamaBundle, llamaLibDir, llamaHeadersDir } from "./llama-paths.js";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
const sanitize = args.includes("--sanitize");
const bdIdx = args.indexOf("--build-dir");
const buildDir = bdIdx >= 0 ? resolve(args[bdIdx + 1]) : join(root, "native", sanitize ? "build-asan" : "build");

const src = llamaHeadersDir(root);
if (!existsSync(join(src, "include", "llama.h"))) {
  const bundle = llamaBundle(root);
  mkdirSync(dirname(src), { recursive: true });
  console.log(`[build-native] extracting llama.cpp headers from ${bundle}`);
  execFileSync("git", ["clone", "--quiet", "--depth", "1", bundle, src], { stdio: "inherit" });
}
const { dir: libDir, suffix } = llamaLibDir(root);
const cfg = [
  "-S", join(root, "native"), "-B", buildDir,
  `-DRD_LLAMA_SRC=${src}`, `-DRD_LLAMA_LIB_DIR=${libDir}`, `-DRD_LLAMA_LIB_SUFFIX=${suffix}`,
  `-DCMAKE_BUILD_TYPE=${sanitize ? "Debug" : "Release"}`, `-DRD_SANITIZE=${sanitize ? "ON" : "OFF"}`,
];
execFileSync("cmake", cfg, { stdio: ["ignore", "ignore", "inherit"] });
execFileSync("cmake", ["--build", buildDir, "-j", "2"], { stdio: "inherit" });
console.log(`[build-native] built ${buildDir} (llama libs: ${libDir})`);
