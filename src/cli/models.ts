// models.ts - `redrafter models`: the catalog as a table (or JSON), with what this machine has:
// whether each model is in the cache and whether its drafter is shipped in drafters/.
import { loadCatalog, modelFileName, shippedDrafter } from "../models/catalog.ts";
import { cachedModel, modelCacheDir } from "../models/fetch.ts";
import { parse, UsageError } from "./args.ts";

const HELP = `usage: redrafter models [--json]

The models 'redrafter pull NAME' and '--model NAME' know (src/models/catalog.json, or
$REDRAFTER_CATALOG): name, GGUF size, sha256, whether it is cached, and the drafter shipped for it.
  --json    a JSON array: every catalog field of each model, plus file, default, cached_path
            and drafter_path (null when absent)`;

export async function runModels(argv: string[]): Promise<void> {
  const parsed = parse(argv, { json: { type: "boolean" } }, HELP);
  if (!parsed) return;
  if (parsed.positionals.length) throw new UsageError(`unexpected argument '${parsed.positionals[0]}'\n\n${HELP}`);
  const catalog = loadCatalog();
  const cacheDir = modelCacheDir();
  const rows = catalog.models.map((m) => ({
    ...m,
    file: modelFileName(m),
    default: m.name === catalog.default,
    cached_path: cachedModel(m, cacheDir),
    drafter_path: shippedDrafter(m),
  }));
  if (parsed.values.json) {
    console.log(JSON.stringify(rows, null, 2));
    return;
  }
  const table = [
    ["NAME", "SIZE", "SHA256", "CACHED", "DRAFTER"],
    ...rows.map((r) => [
      `${r.name}${r.default ? " (default)" : ""}`,
      `${(r.size / 1024 ** 2).toFixed(1)} MiB`,
      r.sha256.slice(0, 12),
      r.cached_path ? "yes" : "no",
      r.drafter_path ? r.drafter! : "none",
    ]),
  ];
  const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
  for (const row of table) console.log(row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i]!))).join("  "));
  console.log(`\ncache: ${cacheDir}`);
}
