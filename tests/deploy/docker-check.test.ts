// docker-check.test.ts - the static half of scripts/docker-check.ts in every `npm test`: the
// Dockerfile's stages, users, packages and COPY sources, and deploy/compose.yaml's health checks,
// dependencies and flags against `redrafter <command> --help`, so a renamed flag or file breaks
// here. The replay (npm ci, the native build, the servers started) is CI's own step.
import { spawnSync } from "node:child_process";
import { join, resolve } from "node:path";
import { expect, it } from "vitest";

const root = resolve(import.meta.dirname, "../..");

it("the Dockerfile and compose file pass the static checks", () => {
  const r = spawnSync(join(root, "node_modules", ".bin", "bun"), [join(root, "scripts", "docker-check.ts"), "--static"], { encoding: "utf8" });
  expect(r.stdout.split("\n").filter((l) => l.includes(" FAIL "))).toEqual([]);
  expect(r.stdout).toMatch(/all passed/);
  expect(r.status).toBe(0);
}, 60_000);
