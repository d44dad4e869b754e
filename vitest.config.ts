// vitest.config.ts - the TypeScript suites, run under Bun so bun:ffi resolves:
//   node_modules/.bin/bun --bun node_modules/.bin/vitest run --pool=threads   (scripts/test.sh)
// The threads pool is the one that works under Bun (forks fails: "child.channel?.unref").
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["tests/**/*.test.ts", "routes/**/*.test.ts", "src/**/*.test.ts"],
    pool: "threads",
    // suites may build native/ on first use and generate with real (tiny) models
    testTimeout: 120_000,
    hookTimeout: 15 * 60_000,
    teardownTimeout: 60_000,
  },
});
