// zip.test.ts - the wheel reader: members listed from the central directory and streamed out
// byte-exact, deflated or stored, against archives written by Python's zipfile.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { listZip, openZipEntry } from "../../src/models/zip.ts";

const dir = mkdtempSync(join(tmpdir(), "rd-zip-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function makeZip(name: string, compression: "ZIP_DEFLATED" | "ZIP_STORED"): string {
  const path = join(dir, name);
  // 3 MB of pseudo-random bytes (seeded) plus a text member and an empty one
  execFileSync("python3", ["-c", `
import random, zipfile, sys
random.seed(5)
data = bytes(random.getrandbits(8) for _ in range(3_000_000))
with zipfile.ZipFile(sys.argv[1], "w", zipfile.${compression}) as z:
    z.writestr("pkg/__init__.py", "x = 1\\n")
    z.writestr("pkg/data/blob.part00", data)
    z.writestr("pkg/empty", b"")
`, path]);
  return path;
}

async function read(path: string, name: string): Promise<Buffer> {
  const entry = (await listZip(path)).find((e) => e.name === name)!;
  const chunks: Buffer[] = [];
  for await (const c of await openZipEntry(path, entry)) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

const expected = () =>
  execFileSync("python3", ["-c", "import random,sys\nrandom.seed(5)\nsys.stdout.buffer.write(bytes(random.getrandbits(8) for _ in range(3_000_000)))"], {
    maxBuffer: 1 << 23,
  });

describe("zip reader", () => {
  for (const compression of ["ZIP_DEFLATED", "ZIP_STORED"] as const) {
    it(`streams ${compression} members byte-exact`, async () => {
      const zip = makeZip(`${compression}.whl`, compression);
      const entries = await listZip(zip);
      expect(entries.map((e) => e.name)).toEqual(["pkg/__init__.py", "pkg/data/blob.part00", "pkg/empty"]);
      expect(entries[1]!.method).toBe(compression === "ZIP_DEFLATED" ? 8 : 0);
      expect((await read(zip, "pkg/__init__.py")).toString()).toBe("x = 1\n");
      expect((await read(zip, "pkg/data/blob.part00")).equals(expected())).toBe(true);
      expect((await read(zip, "pkg/empty")).length).toBe(0);
    });
  }

  it("refuses a file that is not a zip", async () => {
    const notZip = join(dir, "plain.txt");
    execFileSync("sh", ["-c", `printf 'hello world' > ${notZip}`]);
    await expect(listZip(notZip)).rejects.toThrow(/not a zip file/);
  });
});
