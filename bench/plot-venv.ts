// plot-venv.ts - run a bench's matplotlib script on its JSON report, in the repository's own
// venv (.cache/plot-venv, matplotlib from PyPI, made on first use): bench/peers.ts and
// bench/drafter-curve.ts.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const ROOT = resolve(import.meta.dir, "..");

/** python SCRIPT REPORT.json OUT_DIR, with the report written to a temporary file. */
export function runPlot(script: string, report: unknown, outDir: string): void {
  const venv = join(ROOT, ".cache", "plot-venv");
  const py = join(venv, "bin", "python");
  if (!existsSync(py) || spawnSync(py, ["-c", "import matplotlib"]).status !== 0) {
    process.stderr.write(`making ${venv} (pip install matplotlib)\n`);
    execFileSync("python3", ["-m", "venv", venv], { stdio: "inherit" });
    execFileSync(py, ["-m", "pip", "install", "-q", "matplotlib==3.11.2"], { stdio: "inherit" });
  }
  mkdirSync(outDir, { recursive: true });
  const tmp = join(mkdtempSync(join(tmpdir(), "rd-plot-")), "report.json");
  writeFileSync(tmp, JSON.stringify(report));
  execFileSync(py, [script, tmp, outDir], { stdio: "inherit" });
}
