// ffi-layout.test.ts - the struct offsets in src/ffi/structs.ts against offsetof() from the real
// header, and the status and finish codes of src/ffi/errors.ts and session.ts against its enums,
// compiled by the system C compiler (skipped when there is none).
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { Status } from "../../src/ffi/errors.ts";
import { Finish } from "../../src/ffi/session.ts";
import { layouts } from "../../src/ffi/structs.ts";
import { repoRoot } from "../../src/ffi/symbols.ts";

const cc = process.env.CC ?? "cc";
const haveCc = spawnSync(cc, ["--version"]).status === 0;

/** The lines a C program built on redrafter.h prints, one printf per statement given. */
function printFromC(statements: string[]): string[] {
  const src = `#include <stdio.h>\n#include <stddef.h>\n#include "redrafter.h"\nint main(void) {\n${statements.join("\n")}\n  return 0;\n}\n`;
  const dir = mkdtempSync(join(tmpdir(), "rd-layout-"));
  try {
    writeFileSync(join(dir, "layout.c"), src);
    const exe = join(dir, "layout");
    execFileSync(cc, ["-std=c11", "-I", join(repoRoot, "native", "include"), "-o", exe, join(dir, "layout.c")]);
    return execFileSync(exe, { encoding: "utf8" }).trim().split("\n");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe.skipIf(!haveCc)("C struct layouts", () => {
  test("every field offset and struct size matches offsetof/sizeof", () => {
    const lines: string[] = [];
    const expected: string[] = [];
    for (const [name, l] of Object.entries(layouts)) {
      lines.push(`  printf("%s size %zu\\n", "${name}", sizeof(${name}));`);
      expected.push(`${name} size ${l.size}`);
      for (const [field, [off]] of Object.entries(l.fields)) {
        lines.push(`  printf("%s %s %zu\\n", "${name}", "${field}", offsetof(${name}, ${field}));`);
        expected.push(`${name} ${field} ${off}`);
      }
    }
    expect(printFromC(lines)).toEqual(expected);
  });

  test("every rd_status and rd_finish value matches the header's enums", () => {
    const codes = [
      ...Object.entries(Status).map(([name, v]) => [name, v] as const),
      ...Object.entries(Finish).map(([name, v]) => [`RD_FINISH_${name}`, v] as const),
    ];
    const lines = codes.map(([name]) => `  printf("%s %d\\n", "${name}", (int) ${name});`);
    expect(printFromC(lines)).toEqual(codes.map(([name, v]) => `${name} ${v}`));
  });
});
