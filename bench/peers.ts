// peers.ts - the race: redrafter against llama.cpp's llama-server (no speculation, each n-gram
// speculative type it lists with its defaults, two of them set up like redrafter's context copy,
// and a draft model with --draft-model) and node-llama-cpp (plain and with its
// InputLookupTokenPredictor), on the same GGUF, prompts (chat template rendered once, sent as the
// same text to all), greedy decoding, max_tokens, threads and context size. Every server is started first; then prompt by
// prompt each configuration runs once, in an order rotated per prompt, so all see the same
// machine state. llama-server comes from scripts/build-llama.sh --server (built once, cached).
//
//   bun bench/peers.ts [--model M] [--prompts FILE.jsonl] [--limit K] [--max-tokens N]
//       [--threads N] [--ctx-size N] [--only a,b] [--draft-model D] [--llama-bin DIR]
//       [--json] [--out FILE] [--plot DIR | --no-plot]
//
// --only: run only configurations whose names contain one of these (each engine's plain
// decoding always runs); docs/race.md has the configurations, a run's table and how to read it.
//
// Per configuration and prompt category: end-to-end tokens/s (completion tokens over the
// client's wall time, prefill included), generation-phase tokens/s (each engine's own clock),
// and how many texts are identical to that engine's own plain decoding and to redrafter plain.
// Prints a table (stderr), the JSON (stdout with --json, a file with --out) and plots
// (bench/peers/plot.py, matplotlib in .cache/plot-venv) into --plot (default docs/race).
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { readPrompts, spread, type Prompt } from "../src/cli/prompts.ts";
import { chatPromptText, modelChatTemplate } from "../src/engine/chat-template.ts";
import { resolveModel } from "../src/models/resolve.ts";
import {
  llamaServer, llamaServerContestant, NodeLlamaCpp, redrafter, redrafterServer,
  type Contestant, type RunResult, type Server, type Shared,
} from "./peers/contestants.ts";
import { runPlot } from "./plot-venv.ts";

const ROOT = resolve(import.meta.dir, "..");
const { values: v } = parseArgs({
  options: {
    model: { type: "string" },
    prompts: { type: "string", default: join(ROOT, "tests", "fixtures", "prompts.jsonl") },
    limit: { type: "string", default: "12" },
    "max-tokens": { type: "string", default: "96" },
    threads: { type: "string", default: "1" },
    "ctx-size": { type: "string", default: "4096" },
    only: { type: "string" }, // comma-separated substrings of configuration names
    "draft-model": { type: "string" },
    "llama-bin": { type: "string" },
    json: { type: "boolean" },
    out: { type: "string" },
    plot: { type: "string", default: join(ROOT, "docs", "race") },
    "no-plot": { type: "boolean" },
  },
});
const int = (name: string, s: string) => {
  const n = Number(s);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} wants a positive integer, not '${s}'`);
  return n;
};
const maxTokens = int("max-tokens", v["max-tokens"]!);
const log = (msg: string) => process.stderr.write(`[peers] ${msg}\n`);

/** llama-server's configurations: no speculation, then each n-gram speculative type its own
 *  --help lists, with its defaults (made for long repetitive contexts: ngram-simple looks up
 *  12-grams, ngram-mod 24-grams), then two of them set up like redrafter's context copy (a match
 *  of the last 3-4 tokens, up to 16 tokens copied), where --help has those flags. */
function llamaServerConfigs(bin: string): [string, string[]][] {
  const run = spawnSync(join(bin, "llama-server"), ["--help"], { encoding: "utf8" });
  const help = `${run.stdout}${run.stderr}`;
  const types = (/--spec-type\s+(\S+)/.exec(help)?.[1] ?? "").split(/[,|]/).filter((t) => t.startsWith("ngram"));
  if (types.length === 0) throw new Error("llama-server --help lists no n-gram --spec-type");
  const likeCopy: [string, string[]][] = [
    ["ngram-simple n3 m16", ["--spec-type", "ngram-simple", "--spec-ngram-simple-size-n", "3", "--spec-ngram-simple-size-m", "16"]],
    ["ngram-mod n4 max16", ["--spec-type", "ngram-mod", "--spec-ngram-mod-n-match", "4", "--spec-ngram-mod-n-min", "1", "--spec-ngram-mod-n-max", "16"]],
  ];
  return [
    ["llama-server", []],
    ...types.map((t): [string, string[]] => [`llama-server ${t}`, ["--spec-type", t]]),
    ...likeCopy.filter(([, flags]) => flags.every((f) => !f.startsWith("--") || help.includes(f)))
      .map(([name, flags]): [string, string[]] => [`llama-server ${name}`, flags]),
  ];
}

// the race in docs/race.md is on Gemma 3 270M; --model takes a path or a catalog name
const model = await resolveModel(v.model ?? "gemma-3-270m-q4_k_m", log);
const prompts = spread(readPrompts(v.prompts!), int("limit", v.limit!)); // an even stride, as `redrafter bench`
const shared: Shared = {
  model, threads: int("threads", v.threads!), ctxSize: int("ctx-size", v["ctx-size"]!),
  logDir: mkdtempSync(join(tmpdir(), "rd-peers-logs-")),
};
let bin = v["llama-bin"];
if (!bin) {
  log("llama-server: scripts/build-llama.sh --server (cached after the first build)");
  const paths = execFileSync(join(ROOT, "scripts", "build-llama.sh"), ["--server"], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
  bin = /^LLAMA_BIN=(.*)$/m.exec(paths)![1]!;
}
const wanted = (name: string) => !v.only || v.only.split(",").some((s) => name.includes(s.trim()));

// The configurations. Plain decoding of each engine first: the others are compared to it.
const RD_PLAIN = "redrafter plain";
const servers: Server[] = [];
const contestants: Contestant[] = [];
const nlc = await NodeLlamaCpp.load(shared);
try {
  // redrafter plain runs on the defaults' server with the request field redrafter.draft = false
  const rdConfigs: [string, string[], boolean][] = [
    ["redrafter", [], false], ["redrafter drafter-only", ["--lookup", "0"], false], ["redrafter copy-only", [], true],
  ];
  for (const [name, flags, noDrafter] of rdConfigs) {
    if (!wanted(name) && name !== "redrafter") continue;
    const s = await redrafterServer(shared, name, flags, noDrafter);
    servers.push(s);
    if (name === "redrafter") contestants.push(redrafter(s, RD_PLAIN, RD_PLAIN, false));
    if (wanted(name)) contestants.push(redrafter(s, name, RD_PLAIN));
  }
  const LS_PLAIN = "llama-server";
  const lsConfigs = llamaServerConfigs(bin);
  if (v["draft-model"]) lsConfigs.push(["llama-server draft-model", ["--spec-draft-model", resolve(v["draft-model"])]]);
  for (const [name, flags] of lsConfigs) {
    if (!wanted(name) && name !== LS_PLAIN) continue;
    const s = await llamaServer(shared, bin, name, flags);
    servers.push(s);
    contestants.push(llamaServerContestant(s, name, LS_PLAIN));
  }
  // each engine's plain decoding always runs: the identical-text counts compare against it
  const NLC_PLAIN = "node-llama-cpp";
  contestants.push(await nlc.contestant(NLC_PLAIN, NLC_PLAIN, false));
  if (wanted("node-llama-cpp lookup")) contestants.push(await nlc.contestant("node-llama-cpp lookup", NLC_PLAIN, true));
  log(`${contestants.length} configurations: ${contestants.map((c) => c.name).join(", ")}; logs in ${shared.logDir}`);
  await Promise.all(servers.map((s) => s.ready()));

  // the prompt text every engine gets: the model's chat template (or its family's), BOS left
  // to each tokenizer (all three add it and parse special tokens in the text)
  const meta = (key: string): string | null => {
    const val = key.split(".").reduce<any>((o, k) => o?.[k], nlc.model.fileInfo.metadata);
    return typeof val === "string" ? val : null;
  };
  const format = {
    chatTemplate: modelChatTemplate(meta), bosToken: nlc.model.tokens.bosString ?? null,
    eosToken: nlc.model.tokens.eosString ?? null, addBos: nlc.model.tokens.shouldPrependBosToken,
  };
  const texts = prompts.map((p) => chatPromptText(format, [{ role: "user", content: p.prompt }]));

  // one untimed short run each: first-request set-up (redrafter's head check, caches) is not raced
  for (const c of contestants) await c.run(texts[0]!, 8);

  const results = new Map<string, RunResult[]>(contestants.map((c) => [c.name, []]));
  for (const [i, p] of prompts.entries()) {
    const order = contestants.map((_, j) => contestants[(i + j) % contestants.length]!);
    for (const c of order) results.get(c.name)![i] = await c.run(texts[i]!, maxTokens);
    const got = contestants.map((c) => [c.name, results.get(c.name)![i]!] as const);
    log(`[${i + 1}/${prompts.length}] ${p.id}: ` + got.map(([name, r]) => `${name} ${((r.tokens * 1000) / r.wallMs).toFixed(1)}`).join(", ") + " tok/s end-to-end");
    // the same text must have become the same prompt tokens everywhere, else the race is off
    const counts = new Set(got.map(([, r]) => r.promptTokens));
    if (counts.size > 1) log(`warning: prompt token counts differ: ${got.map(([name, r]) => `${name} ${r.promptTokens}`).join(", ")}`);
  }

  const report = summarize(contestants, prompts, results);
  printTable(report);
  const json = JSON.stringify(report, null, 1);
  if (v.out) writeFileSync(v.out, json + "\n");
  if (v.json) process.stdout.write(json + "\n");
  if (!v["no-plot"]) runPlot(join(ROOT, "bench", "peers", "plot.py"), report, v.plot!);
} finally {
  for (const s of servers) s.close();
  await nlc.close();
}

interface Row {
  name: string;
  family: string;
  category: string; // "all" or a prompt category
  prompts: number;
  tokens: number;
  e2e_tok_s: number; // sum of tokens / sum of client wall time
  gen_tok_s: number; // sum of generation tokens / sum of generation time (engine's clock)
  e2e_vs_rd_plain: number;
  gen_vs_rd_plain: number;
  e2e_vs_llama_server: number;
  identical_to_own_plain: number; // prompts whose text equals the same engine's plain decoding
  identical_to_rd_plain: number;
  extra: Record<string, number>; // sums of the engine's counters
}

function summarize(contestants: Contestant[], ps: Prompt[], results: Map<string, RunResult[]>) {
  const categories = ["all", ...new Set(ps.map((p) => p.category))];
  const rows: Row[] = [];
  for (const category of categories) {
    const idx = ps.flatMap((p, i) => (category === "all" || p.category === category ? [i] : []));
    const rate = (name: string, kind: "e2e" | "gen") => {
      const rs = idx.map((i) => results.get(name)![i]!);
      const tok = rs.reduce((a, r) => a + (kind === "e2e" ? r.tokens : r.genTokens), 0);
      const ms = rs.reduce((a, r) => a + (kind === "e2e" ? r.wallMs : r.genMs), 0);
      return ms > 0 ? (tok * 1000) / ms : 0;
    };
    const same = (a: string, b: string) => idx.filter((i) => results.get(a)![i]!.text === results.get(b)![i]!.text).length;
    for (const c of contestants) {
      const rs = idx.map((i) => results.get(c.name)![i]!);
      const extra: Record<string, number> = {};
      for (const r of rs) for (const [k, x] of Object.entries(r.extra)) extra[k] = (extra[k] ?? 0) + x;
      rows.push({
        name: c.name, family: c.family, category, prompts: idx.length,
        tokens: rs.reduce((a, r) => a + r.tokens, 0),
        e2e_tok_s: rate(c.name, "e2e"), gen_tok_s: rate(c.name, "gen"),
        e2e_vs_rd_plain: rate(c.name, "e2e") / rate(RD_PLAIN, "e2e"),
        gen_vs_rd_plain: rate(c.name, "gen") / rate(RD_PLAIN, "gen"),
        e2e_vs_llama_server: rate(c.name, "e2e") / rate("llama-server", "e2e"),
        identical_to_own_plain: same(c.name, c.plain), identical_to_rd_plain: same(c.name, RD_PLAIN), extra,
      });
    }
  }
  return {
    model, prompts_file: v.prompts, n_prompts: ps.length, max_tokens: maxTokens, threads: shared.threads,
    ctx_size: shared.ctxSize, temperature: 0, llama_bin: bin,
    prompt_ids: ps.map((p) => p.id), rows,
    runs: Object.fromEntries([...results].map(([name, rs]) => [name, rs.map((r, i) => ({ id: ps[i]!.id, ...r }))])),
  };
}

function printTable(report: ReturnType<typeof summarize>): void {
  const head = ["configuration", "category", "tokens", "e2e tok/s", "gen tok/s", "e2e / rd plain", "gen / rd plain",
    "e2e / llama-server", "= own plain", "= rd plain"];
  const x = (r: number) => r.toFixed(2) + "x";
  const lines = report.rows.map((r) => [
    r.name, r.category, String(r.tokens), r.e2e_tok_s.toFixed(1), r.gen_tok_s.toFixed(1), x(r.e2e_vs_rd_plain),
    x(r.gen_vs_rd_plain), x(r.e2e_vs_llama_server), `${r.identical_to_own_plain}/${r.prompts}`, `${r.identical_to_rd_plain}/${r.prompts}`,
  ]);
  const w = head.map((h, j) => Math.max(h.length, ...lines.map((l) => l[j]!.length)));
  const fmt = (l: string[]) => "| " + l.map((c, j) => (j < 2 ? c.padEnd(w[j]!) : c.padStart(w[j]!))).join(" | ") + " |";
  process.stderr.write([fmt(head), "|" + w.map((n, j) => (j < 2 ? "-".repeat(n + 2) : "-".repeat(n + 1) + ":") + "|").join(""), ...lines.map(fmt)].join("\n") + "\n");
}

