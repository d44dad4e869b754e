#!/usr/bin/env node
// postinstall.js - what `npm install` runs last: make sure the Bun runtime is in place, then
// build native/ (libredrafter, tools, tests) against node-llama-cpp's prebuilt llama.cpp.
import { execFileSync, spawnSync } from "node:child_process";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { bunPath } from "./bun-path.js";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");

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
const bun = bunPath(root);
let version = bunVersion(bun);
if (!version) {
  console.log("[postinstall] bun binary missing, running bun's installer");
  const bunDir = dirname(dirname(bun));
  spawnSync(process.execPath, [join(bunDir, "install.js")], { cwd: bunDir, stdio: "inherit" });
  version = bunVersion(bun);
}
if (!version) fail(`no working Bun at ${bun}; reinstall without --ignore-scripts or install bun`);
console.log(`[postinstall] bun ${version}`);

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
