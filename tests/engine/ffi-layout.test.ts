// ffi-layout.test.ts - the struct offsets in src/ffi/structs.ts against offsetof() from the real
// header, compiled by the system C compiler (skipped when there is none).
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { layouts } from "../../src/ffi/structs.ts";
import { repoRoot } from "../../src/ffi/symbols.ts";

const cc = process.env.CC ?? "cc";
const haveCc = spawnSync(cc, ["--version"]).status === 0;

describe.skipIf(!haveCc)("C struct layouts", () => {
  test("every field offset and struct size matches offsetof/sizeof", () => {
    const lines: string[] = [];
    for (const [name, l] of Object.entries(layouts)) {
      lines.push(`  printf("%s size %zu\\n", "${name}", sizeof(${name}));`);
      for (const field of Object.keys(l.fields)) {
        lines.push(`  printf("%s %s %zu\\n", "${name}", "${field}", offsetof(${name}, ${field}));`);
      }
    }
    const src = `#include <stdio.h>\n#include <stddef.h>\n#include "redrafter.h"\nint main(void) {\n${lines.join("\n")}\n  return 0;\n}\n`;
    const dir = mkdtempSync(join(tmpdir(), "rd-layout-"));
    try {
      writeFileSync(join(dir, "layout.c"), src);
      const exe = join(dir, "layout");
      execFileSync(cc, ["-std=c11", "-I", join(repoRoot, "native", "include"), "-o", exe, join(dir, "layout.c")]);
      const actual = execFileSync(exe, { encoding: "utf8" }).trim().split("\n");
      const expected: string[] = [];
      for (const [name, l] of Object.entries(layouts)) {
        expected.push(`${name} size ${l.size}`);
        for (const [field, [off]] of Object.entries(l.fields)) expected.push(`${name} ${field} ${off}`);
      }
      expect(actual).toEqual(expected);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
