// bun-path.js - the Bun binary this package depends on, resolved the way Node resolves the
// package's own imports: bun may sit above it when redrafter is itself installed as a dependency.
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

export function bunPath(root) {
  const dir = dirname(createRequire(join(root, "package.json")).resolve("bun/package.json"));
  return join(dir, "bin", "bun.exe"); // the bun package names it bun.exe on every platform
}
