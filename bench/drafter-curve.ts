// drafter-curve.ts - how a drafter grows with its teacher data (and, run again with other
// shapes, with its capacity): for each --positions budget, train a drafter on that many positions
// of the given teacher files (whole sequences in a seeded order, the trainer's own held-out
// prompts kept out), then measure it on prompts no teacher file saw:
//   - per draft step, top-1 / top-4 accuracy and KL on the trainer's held-out answers;
//   - tau by real speculative generation (greedy, B x L at every step, no adaptive length) on
//     --heldout prompts (e.g. distill's --save-holdout slice).
//
//   bun bench/drafter-curve.ts --model M --teacher NAME=FILE[,FILE...] --heldout H.jsonl
//       [--positions 25000,50000,0] [--draft-vocab 4096] [--layers 1] [--proj E] [--beam-length 2]
//       [--epochs 1] [--batch 128] [--lr 3e-3] [--seed 42] [--threads 1] [--limit 30]
//       [--tau-tokens 64] [--tau-beams 1] [--keep DIR] [--out ROWS.jsonl] [--plot DIR]
//   bun bench/drafter-curve.ts --model M --drafter D.gguf --heldout H.jsonl ...   (a reference:
//       an existing drafter's tau on the same prompts, no training; a row without accuracies)
//
// Teacher files come from `redrafter distill` (--cache-dir: teacher-KEY.rdt answers, score-KEY.rdt
// scored texts). Position budget 0 = all. Each row is appended to --out as one JSON line, so
// runs of several sets and shapes accumulate; --plot draws every row of --out
// (bench/drafter-curve/plot.py, matplotlib in .cache/plot-venv).
import { appendFileSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { autoProj } from "../src/cli/args.ts";
import { templated } from "../src/cli/distill.ts";
import { readPrompts, spread } from "../src/cli/prompts.ts";
import { evalTau, packPrompts, Trainer } from "../src/ffi/distill.ts";
import { Drafter } from "../src/ffi/drafter.ts";
import { Model } from "../src/ffi/model.ts";
import { setNativeLogQuiet } from "../src/ffi/symbols.ts";
import { runPlot } from "./plot-venv.ts";

const ROOT = resolve(import.meta.dir, "..");
const { values: v } = parseArgs({
  options: {
    model: { type: "string" },
    teacher: { type: "string" },
    heldout: { type: "string" },
    positions: { type: "string", default: "0" },
    "draft-vocab": { type: "string", default: "4096" },
    layers: { type: "string", default: "1" },
    proj: { type: "string" },
    "beam-length": { type: "string", default: "2" },
    epochs: { type: "string", default: "1" },
    batch: { type: "string", default: "128" },
    lr: { type: "string", default: "3e-3" },
    seed: { type: "string", default: "42" },
    threads: { type: "string", default: "1" },
    limit: { type: "string", default: "30" },
    "tau-tokens": { type: "string", default: "64" },
    "tau-beams": { type: "string", default: "1" },
    keep: { type: "string" },
    out: { type: "string", default: join(ROOT, "docs", "curve", "rows.jsonl") },
    plot: { type: "string" },
    "plot-only": { type: "boolean", default: false },
    drafter: { type: "string" },
  },
});

const int = (name: keyof typeof v) => {
  const x = Number(v[name]);
  if (!Number.isInteger(x) || x < 0) throw new Error(`--${name} must be a whole number >= 0 (got ${v[name]})`);
  return x;
};
const log = (s: string) => process.stderr.write(s + "\n");

function plotRows(): void {
  const rows = readFileSync(v.out!, "utf8").trim().split("\n").map((l) => JSON.parse(l));
  runPlot(join(ROOT, "bench", "drafter-curve", "plot.py"), { rows }, v.plot!);
  log(`plots in ${v.plot}`);
}

if (v["plot-only"]) {
  if (!v.plot) throw new Error("--plot-only needs --plot DIR");
  plotRows();
  process.exit(0);
}
if (!v.model || !(v.teacher || v.drafter) || !v.heldout) throw new Error("--model, --teacher NAME=FILE[,FILE] (or --drafter D) and --heldout are required");
const L = int("beam-length"), threads = int("threads"), tauTokens = int("tau-tokens"), tauBeams = int("tau-beams");
setNativeLogQuiet(true);
const model = Model.load(resolve(v.model), { batchInvariant: false });
const held = spread(readPrompts(v.heldout), int("limit"));
const heldTokens = packPrompts(templated(model, held.map((p) => p.prompt)));
mkdirSync(resolve(v.out!, ".."), { recursive: true });
const tauOn = { tau_prompts: held.length, tau_tokens: tauTokens, tau_beams: tauBeams, heldout: basename(v.heldout) };

/** tau of the drafter file at path on the held-out prompts */
function tauOf(path: string): number {
  const drafter = Drafter.load(path, model);
  try {
    return evalTau(model, drafter.ptr, heldTokens, tauBeams, L, tauTokens, threads).tau;
  } finally {
    drafter.close();
  }
}

if (v.drafter) {
  const tau = tauOf(resolve(v.drafter));
  appendFileSync(v.out!, JSON.stringify({ set: `reference: ${basename(v.drafter)}`, beam_length: L, tau, ...tauOn, drafter: basename(v.drafter) }) + "\n");
  log(`${basename(v.drafter)}: tau ${tau.toFixed(3)}`);
  model.close();
  process.exit(0);
}
const eq = v.teacher!.indexOf("=");
if (eq < 1) throw new Error("--teacher is NAME=FILE[,FILE...]");
const set = v.teacher!.slice(0, eq);
const files = v.teacher!.slice(eq + 1).split(",").map((f) => resolve(f));
for (const f of files) if (!existsSync(f)) throw new Error(`no teacher file ${f}`);
const budgets = v.positions!.split(",").map((x) => {
  const n = Number(x);
  if (!Number.isInteger(n) || n < 0) throw new Error(`--positions: ${x} is not a whole number >= 0`);
  return n;
});
const keep = v.keep ? resolve(v.keep) : join(ROOT, ".cache", "drafter-curve");
mkdirSync(keep, { recursive: true });

const shape = { draft_vocab: int("draft-vocab"), layers: int("layers"), proj: v.proj === undefined ? autoProj(model) : int("proj"), beam_length: L };
for (const budget of budgets) {
  const name = `${set}-v${shape.draft_vocab}-l${shape.layers}-p${shape.proj}-L${L}-${budget || "all"}`;
  const out = join(keep, `${name}.gguf`);
  const t0 = performance.now();
  const trainer = Trainer.open(model, files, {
    beamLength: L, nDraftVocab: shape.draft_vocab, nLayers: shape.layers, nProj: shape.proj, weights: "f16",
    epochs: int("epochs"), batchSize: int("batch"), lr: Number(v.lr), seed: int("seed"), threads, maxPositions: budget,
  }, null, false);
  let pr;
  try {
    do pr = trainer.run(2000);
    while (!pr.finished);
    trainer.save(out);
  } finally {
    trainer.close();
  }
  const trainS = (performance.now() - t0) / 1000;
  const tau = tauOf(out);
  const row = {
    set, teacher: files.map((f) => basename(f)), max_positions: budget, ...shape, epochs: int("epochs"),
    n_train_samples: pr.n_train_samples, n_eval_samples: pr.n_eval_samples, coverage: pr.coverage,
    eval_kl: pr.eval_kl, acc1: pr.acc1, acc4: pr.accB, train_s: trainS,
    tau, ...tauOn, drafter: basename(out),
  };
  appendFileSync(v.out!, JSON.stringify(row) + "\n");
  log(`${name}: ${pr.n_train_samples} samples, top-1 ${pr.acc1.map((x) => x.toFixed(3)).join(" ")}, ` +
    `top-4 ${pr.accB.map((x) => x.toFixed(3)).join(" ")}, KL ${pr.eval_kl.toFixed(2)}, tau ${tau.toFixed(3)} (${trainS.toFixed(0)} s)`);
}
model.close();
if (v.plot) plotRows();
