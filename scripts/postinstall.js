#!/usr/bin/env node
// postinstall.js - what `npm install` runs last: make sure the Bun runtime is in place, then
// build native/ (libredrafter, tools, tests) against node-llama-cpp's prebuilt llama.cpp.
// RD_SKIP_NATIVE_BUILD=1 skips the build (e.g. an image that builds in a later layer).
import { execFileSync, spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(join(root, "package.json"));

function fail(msg) {
  console.error(`[postinstall] ${msg}`);
  process.exit(1);
}

// The bun package's own postinstall puts the platform binary in bun/bin; an install run with
// --ignore-scripts skips it, so run it here when the binary does not answer.
function bunVersion(bun) {
  const r = spawnSync(bun, ["--version"], { encoding: "utf8" });
  return r.status === 0 ? r.stdout.trim() : null;
}
const bunDir = dirname(require.resolve("bun/package.json"));
const bun = join(bunDir, "bin", "bun.exe"); // the package names it bun.exe on every platform
let version = bunVersion(bun);
if (!version) {
  console.log("[postinstall] bun binary missing, running bun's installer");
  spawnSync(process.execPath, [join(bunDir, "install.js")], { cwd: bunDir, stdio: "inherit" });
  version = bunVersion(bun);
}
if (!version) fail(`no working Bun at ${bun}; reinstall without --ignore-scripts or install bun`);
console.log(`[postinstall] bun ${version}`);

if (process.env.RD_SKIP_NATIVE_BUILD === "1") {
  console.log("[postinstall] RD_SKIP_NATIVE_BUILD=1: not building native/");
  process.exit(0);
}
for (const [tool, args] of [["cmake", ["--version"]], ["git", ["--version"]]]) {
  if (spawnSync(tool, args).status !== 0) {
    fail(`${tool} not found: native/ needs cmake >= 3.20, git and a C/C++ compiler`);
  }
}
try {
  execFileSync(process.execPath, [join(root, "scripts", "build-native.js")], { stdio: "inherit" });
} catch {
  fail("building native/ failed (see above); rerun with `npm run build:native`");
}
