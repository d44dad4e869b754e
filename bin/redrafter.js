#!/usr/bin/env node
// redrafter.js - the `redrafter` command (npx redrafter ...): runs src/cli/main.ts on the Bun
// that this package depends on (bun:ffi needs Bun, not Node), passing the arguments, stdio,
// signals and exit status through. Bun is resolved from this package, not from the cwd.
import { spawn } from "node:child_process";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { bunPath } from "../scripts/bun-path.js";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const bun = bunPath(root);

const child = spawn(bun, [join(root, "src", "cli", "main.ts"), ...process.argv.slice(2)], {
  stdio: "inherit",
});

// A terminal's Ctrl-C reaches both processes; a `kill` aimed at this one must reach Bun too.
const signals = ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2"];
const forward = (sig) => child.kill(sig);
for (const sig of signals) process.on(sig, forward);

child.on("error", (err) => {
  console.error(`redrafter: cannot start ${bun}: ${err.message} (run npm install)`);
  process.exit(127);
});
child.on("exit", (code, signal) => {
  for (const sig of signals) process.off(sig, forward);
  if (signal) process.kill(process.pid, signal); // die the same way, so the shell sees it
  else process.exit(code ?? 1);
});
