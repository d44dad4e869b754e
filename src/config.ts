// config.ts - every command's settings: one table (name -> flag, env var, config-file key, zod
// schema, default, help) and one loader. Each command reads the subset it names (COMMANDS);
// values come from CLI flags > REDRAFTER_* env vars > a JSON file (--config) > the table's
// defaults, and an invalid value fails with the setting's name and where it came from. The
// native defaults (rd_*_default_params) and the C tools' --help agree with this table
// (tests/engine/settings-defaults.test.ts).
// Over 300 lines because it is the one settings table of every command, by design (issue 14).
import { readFileSync } from "node:fs";
import { z } from "zod";
import { parseThreads } from "./engine/threads.ts";
import { RD_MAX_BEAM_LENGTH, RD_MAX_BEAMS } from "./ffi/session.ts";

// Flags and env vars carry strings; the file carries JSON. Both pass through the same schema, so
// numbers and booleans accept their string spelling too.
const toNumber = (v: unknown) => (typeof v === "string" && /^\s*[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?\s*$/i.test(v) ? Number(v) : v);
const intIn = (min: number, max = Number.MAX_SAFE_INTEGER) => z.preprocess(toNumber, z.number().int().min(min).max(max));
const numberIn = (min: number, max = Number.MAX_VALUE) => z.preprocess(toNumber, z.number().min(min).max(max));
const orNull = <T extends z.ZodType>(s: T) => z.preprocess((v) => (v === "" ? null : v), s.nullable());

const TRUE = new Set(["1", "true", "yes", "on"]);
const FALSE = new Set(["0", "false", "no", "off"]);
const bool = z.preprocess((v) => {
  if (typeof v !== "string") return v;
  const s = v.trim().toLowerCase();
  return TRUE.has(s) ? true : FALSE.has(s) ? false : v;
}, z.boolean());

const optString = orNull(z.string().min(1));
// false: no drafter at all (--no-drafter), null: the shipped one
const drafterPath = z.union([z.literal(false), optString]);

// serve's local models: a flag or env var spells one as MODEL[=DRAFTER] (DRAFTER: a path, or none
// for no drafter) and several as repeated flags or a comma-separated list; the file holds these
// strings or objects, which also take aliases. A path that holds '=' needs the object form.
const localModel = z.object({
  model: z.string().min(1), // a catalog name, a GGUF path or hf:<user>/<repo>/<file>
  drafter: drafterPath.default(null), // a path; false: none; null: the shipped one
  alias: z.array(z.string().min(1)).default([]), // more ids clients may send in `model`
}).strict();
function localModelString(v: string): unknown {
  const eq = v.lastIndexOf("=");
  if (eq < 0) return { model: v };
  const drafter = v.slice(eq + 1).trim();
  return { model: v.slice(0, eq).trim(), drafter: drafter.toLowerCase() === "none" ? false : drafter };
}
const localModels = z.preprocess((v) => {
  const list = typeof v === "string" ? v.split(",").map((s) => s.trim()).filter(Boolean) : v;
  return Array.isArray(list) ? list.map((e) => (typeof e === "string" ? localModelString(e) : e)) : list;
}, z.array(localModel));
export type LocalModelEntry = z.infer<typeof localModel>;

// "a,b" from a flag or env var, an array from the file; repeated flags accumulate.
const stringList = z.preprocess(
  (v) => (typeof v === "string" ? v.split(",").map((s) => s.trim()).filter(Boolean) : v),
  z.array(z.string().min(1)),
);

const FLASH_ATTN: Record<string, -1 | 0 | 1> = { auto: -1, "-1": -1, off: 0, "0": 0, on: 1, "1": 1 };
const flashAttn = z.preprocess(
  (v) => (typeof v === "string" || typeof v === "number" ? (FLASH_ATTN[String(v).trim().toLowerCase()] ?? v) : v),
  z.union([z.literal(-1), z.literal(0), z.literal(1)]),
);

const threads = z.preprocess(
  (v) => parseThreads(v) ?? v,
  z.union([z.literal("auto"), z.number().int().min(1).max(1024)], { error: "expected auto or a whole number 1..1024" }),
);

/** Byte sizes: 1048576, "1MiB", "512k", "2mb". */
const byteSize = z.preprocess((v) => {
  if (typeof v !== "string") return v;
  const m = /^\s*(\d+)\s*(b|k|kb|kib|m|mb|mib|g|gb|gib)?\s*$/i.exec(v);
  if (!m) return v;
  const unit = (m[2] ?? "b").toLowerCase()[0] as "b" | "k" | "m" | "g";
  return Number(m[1]) * { b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[unit];
}, z.number().int().min(1024).max(1024 ** 3));

// Upstream OpenAI-compatible engines (src/gateway/): model ids (exact or a * ? glob) routed to one
// or more base URLs (replicas). A flag or env var spells one entry as PATTERN=URL[,URL...] and
// repeated flags arrive joined by commas, so an entry starts wherever a token reads X=http(s)://;
// the file holds objects (or the same strings).
const upstreamEntry = z.object({
  model: z.string().min(1),
  urls: z.preprocess((v) => (typeof v === "string" ? [v] : v), z.array(z.string().regex(/^https?:\/\/[^\s]+$/i, "expected an http(s):// URL")).min(1)),
  apiKey: optString.default(null), // sent upstream as Authorization: Bearer
  apiKeyEnv: optString.default(null), // or the name of the env var that holds it
  timeout: numberIn(0.001, 86400).default(600), // seconds until the response headers
  weight: numberIn(0.001, 1e6).default(1), // share of the load among replicas of one model
  healthInterval: numberIn(0, 3600).default(5), // seconds between GET {url}/models checks; 0: none
}).strict();
const ENTRY_START = /^(.+?)=(https?:\/\/.*)$/i;
function upstreamStrings(v: string): unknown[] | null {
  const out: { model: string; urls: string[] }[] = [];
  for (const token of v.split(",").map((t) => t.trim()).filter(Boolean)) {
    const m = ENTRY_START.exec(token);
    if (m) out.push({ model: m[1]!.trim(), urls: [m[2]!] });
    else if (out.length) out.at(-1)!.urls.push(token);
    else return null;
  }
  return out;
}
const upstreams = z.preprocess((v, ctx) => {
  if (typeof v !== "string" && !Array.isArray(v)) return v;
  const entries = (typeof v === "string" ? [v] : v).map((e) => (typeof e === "string" ? upstreamStrings(e) : [e]));
  if (entries.includes(null)) ctx.addIssue({ code: "custom", message: "expected PATTERN=URL[,URL...] with http(s) URLs" });
  return entries.flatMap((e) => e ?? []);
}, z.array(upstreamEntry));
export type UpstreamEntry = z.infer<typeof upstreamEntry>;

// the bounds rd_session_init checks (redrafter.h), written once here
const beams = intIn(1, RD_MAX_BEAMS);
const beamLength = intIn(1, RD_MAX_BEAM_LENGTH);
const weights = z.enum(["f32", "f16", "q8_0"]);
const seed = intIn(0, 0xfffffffe);

interface Setting {
  help: string;
  schema: z.ZodType;
  default: unknown;
  flag?: string; // --flag (default: the name in kebab-case); booleans also take --no-flag
  env?: string; // env var (default: REDRAFTER_ and the name in SNAKE_CASE)
  boolean?: true;
  off?: unknown; // a value setting whose --no-flag sets this
  switches?: Record<string, unknown>; // other flags that set a fixed value (--fixed-length = --no-adaptive)
  alias?: string; // another spelling of the flag
  repeat?: true; // the flag may be given several times
  meta?: string; // placeholder in --help
  shown?: string; // the default as --help spells it
}

const S = <T extends z.ZodType>(s: Setting & { schema: T }) => s;

/** Every setting of every command, keyed by its name in the config file (camelCase); its env var
 *  is REDRAFTER_ and the name in SNAKE_CASE. Settings that share a flag in different commands
 *  but differ in meaning or default have their own names (seed, benchSeed, initSeed). */
const TABLE = {
  model: S({ schema: optString, default: null, meta: "NAME|PATH|hf:U/R/F",
    help: "target: a catalog name (redrafter models), a GGUF path or hf:<user>/<repo>/<file>; default: the catalog's default model (marked in redrafter models), fetched on first use" }),
  models: S({ flag: "model", env: "REDRAFTER_MODEL", schema: localModels, default: [], repeat: true, meta: "NAME|PATH|hf:U/R/F[=DRAFTER]",
    help: "a model to serve: a catalog name (redrafter models), a GGUF path or hf:<user>/<repo>/<file>, with =DRAFTER for its own drafter GGUF (=none: no drafter; default: the shipped one, if any); repeatable: the first is the default (loaded at start, never unloaded), the others load on first request within --models-memory-mib; the config file's `models` list also takes objects {model, drafter, alias}; none: the catalog's default model, fetched on first use" }),
  drafter: S({ schema: drafterPath, default: null, off: false, meta: "PATH",
    help: "ReDrafter draft head GGUF (serve: of the first --model); default: the shipped drafter matching the model, if any (--no-drafter: none, only the context copy drafts)" }),
  draft: S({ schema: bool, default: true, boolean: true,
    help: "speculative decoding (--no-draft serves plain autoregressive decoding)" }),
  alias: S({ schema: stringList, default: [], repeat: true, meta: "NAME",
    help: "extra model id clients may send in `model` for the first --model (repeatable, or comma-separated)" }),
  modelsMemoryMib: S({ schema: intIn(0, 1 << 30), default: 0, shown: "auto", meta: "MIB",
    help: "memory the local models may hold together (0 = auto: 80% of the cgroup's or machine's memory); before a model loads on first use, the least recently used models with no request in hand are unloaded until its estimate (GGUF files + KV cache + vocabulary tables + 16 MiB per slot) fits; if busy ones stand in the way the request gets 503 with Retry-After" }),
  host: S({ schema: z.string().min(1), default: "127.0.0.1", meta: "ADDR",
    help: "address to listen on" }),
  port: S({ schema: intIn(0, 65535), default: 8080, meta: "N",
    help: "TCP port (0 = any free port)" }),
  ctxSize: S({ schema: intIn(0, 1 << 22), default: 0, meta: "N",
    help: "context per slot, prompt + completion (0 = 4096 capped at the model's training context)" }),
  beamWidth: S({ schema: beams, default: 1, meta: "B",
    help: "draft beams per step (1: each tree node costs a full LM-head row on CPU)" }),
  beamLength: S({ schema: beamLength, default: 4, meta: "L",
    help: "draft tokens per beam (the most; the adaptive policy picks 0..L per step)" }),
  gpuLayers: S({ schema: intIn(-1, 100000), default: -1, meta: "N",
    help: "layers to offload to the GPU (-1 = all, 0 = CPU only)" }),
  device: S({ schema: optString, default: null, meta: "NAME",
    help: "ggml device (CUDA0, Metal, Vulkan0, CPU); default: llama.cpp's choice" }),
  threads: S({ schema: threads, default: "auto", meta: "N|auto",
    help: "CPU threads per slot (distill: for the teacher and training, where auto is half the hardware threads); auto: the count that ran decoding steps fastest when measured at start-up (cached per model, drafter, CPU and library in $REDRAFTER_THREADS_CACHE, else ~/.cache/redrafter/threads.json)" }),
  recalibrateThreads: S({ schema: bool, default: false, boolean: true,
    help: "with --threads auto, measure again instead of reading the cached timings" }),
  flashAttn: S({ schema: flashAttn, default: -1, shown: "auto", meta: "auto|on|off",
    help: "flash attention" }),
  batchInvariant: S({ schema: bool, default: true, boolean: true,
    help: "logits that do not depend on the batch, so speculative output equals plain decoding bit for bit (flash attention on, f16 KV, one chain per step; checked at load)" }),
  kvF32: S({ schema: bool, default: false, boolean: true,
    help: "f32 KV cache instead of f16" }),
  adaptive: S({ schema: bool, default: true, boolean: true, switches: { "fixed-length": false },
    help: "pick the draft length per step from measured acceptance and verify cost (--no-adaptive: always B x L)" }),
  lazyHead: S({ schema: bool, default: true, boolean: true, switches: { "full-head": false },
    help: "run the LM head only for the tree nodes the acceptance walk reaches (--no-lazy-head: every node)" }),
  lookup: S({ schema: intIn(0, RD_MAX_BEAM_LENGTH), default: 16, meta: "N",
    help: "context copy: up to N tokens that followed the last tokens where they occurred before join the tree (0 = off)" }),
  slots: S({ schema: intIn(1, 64), default: 1, meta: "N",
    help: "generations that run at once" }),
  queueSize: S({ schema: intIn(0, 100000), default: 16, meta: "N",
    help: "requests that may wait for a slot; more get 429" }),
  maxQueueWait: S({ schema: intIn(0, 86400), default: 60, meta: "SECONDS",
    help: "a request whose wait for a slot, by the prefill queued ahead of it, is expected to pass this gets 429 with Retry-After (0 = no bound)" }),
  apiKey: S({ schema: optString, default: null, meta: "KEY",
    help: "require `Authorization: Bearer KEY` on /v1/*" }),
  apiKeyFile: S({ schema: optString, default: null, meta: "PATH",
    help: "read the API key from this file (first line), so it shows in neither `ps` nor the environment" }),
  maxBody: S({ schema: byteSize, default: 1024 * 1024, meta: "BYTES",
    help: "largest request body (e.g. 1MiB); larger get 413" }),
  corsOrigin: S({ schema: stringList, default: [], repeat: true,
    meta: "ORIGIN", help: "web origins allowed to call the API from a browser (repeatable; * = any); none by default" }),
  allowedHost: S({ schema: stringList, default: [], repeat: true,
    meta: "NAME", help: "Host header names accepted besides the listen address, localhost and IP literals (repeatable; * = any)" }),
  headerTimeout: S({ schema: intIn(1, 255), default: 30, meta: "SECONDS",
    help: "a connection whose request is still unanswered after this long without traffic is closed (generations are bounded by --request-timeout instead)" }),
  bodyTimeout: S({ schema: intIn(1, 3600), default: 30, meta: "SECONDS",
    help: "time to receive a whole request body; slower uploads get 408" }),
  requestTimeout: S({ schema: intIn(0, 86400), default: 600, meta: "SECONDS",
    help: "longest a generation may run, queue included (0 = no limit); longer ones end with an error" }),
  shutdownGrace: S({ schema: intIn(0, 3600), default: 10, meta: "SECONDS",
    help: "on SIGTERM/SIGINT, running generations may finish for this long before they are cancelled" }),
  maxN: S({ schema: intIn(1, 128), default: 16, meta: "N",
    help: "largest `n` (choices per request)" }),
  maxPromptBytes: S({ schema: intIn(0, 1 << 30), default: 0, meta: "BYTES",
    help: "largest prompt text, checked before tokenizing (0 = 16 bytes per token of context)" }),
  maxSchemaDepth: S({ schema: intIn(1, 10000), default: 64, meta: "N",
    help: "deepest nesting of a response_format JSON schema" }),
  maxSchemaBytes: S({ schema: intIn(64, 1 << 30), default: 64 * 1024, meta: "BYTES",
    help: "largest response_format JSON schema, as JSON text" }),
  maxSchemaAlternatives: S({ schema: intIn(1, 1 << 20), default: 256, meta: "N",
    help: "most enum / anyOf / oneOf entries in a response_format JSON schema, all counted (each costs grammar work per token)" }),
  maxGrammarBytes: S({ schema: intIn(64, 1 << 30), default: 256 * 1024, meta: "BYTES",
    help: "largest GBNF grammar a response_format may become (measured while it is generated)" }),
  upstreams: S({ flag: "upstream", schema: upstreams, default: [], repeat: true, meta: "PATTERN=URL[,URL...]",
    help: "route model ids matching PATTERN (exact, or a glob with * and ?) to OpenAI-compatible base URLs (e.g. http://10.0.0.5:8000/v1; several = replicas, least outstanding requests first); repeatable; the config file's `upstreams` list also takes apiKey, apiKeyEnv, timeout (seconds to the response headers, 600), weight and healthInterval (seconds between GET URL/models checks, 5; a failing replica is skipped until one passes; 0: none) per entry; with upstreams and no --model, no local model is served" }),
  logRequests: S({ schema: bool, default: true, boolean: true,
    help: "one line per request on stderr" }),
  logPrompts: S({ schema: bool, default: false, boolean: true,
    help: "each request's prompt as the model sees it (chat template rendered, control tokens included) on stderr, for debugging" }),
  verbose: S({ schema: bool, default: false, boolean: true,
    help: "llama.cpp / ggml logging on stderr" }),
  // generate and bench
  prompt: S({ schema: optString, default: null, meta: "TEXT", help: "one prompt" }),
  prompts: S({ schema: stringList, default: [], repeat: true, meta: "FILE",
    help: "JSONL, one object per line with a \"prompt\" field (and optionally \"id\"); repeatable" }),
  limit: S({ schema: orNull(intIn(1)), default: null, meta: "K", help: "use K prompts: the first (generate), evenly spread over the files (bench, distill); default all" }),
  chat: S({ schema: bool, default: false, boolean: true, help: "render each prompt as a user message with the model's chat template" }),
  raw: S({ schema: bool, default: false, boolean: true, help: "feed prompts as plain text, without the chat template" }),
  roofline: S({ schema: bool, default: true, boolean: true,
    help: "measure the cost of verifying 1..16 nodes and report the best speedup any drafter could reach (S*) and the share of it this run got" }),
  maxTokens: S({ schema: intIn(1), default: 128, meta: "N", help: "tokens to generate per prompt" }),
  temperature: S({ schema: numberIn(0), default: 0, meta: "T", help: "0 = greedy" }),
  topP: S({ schema: numberIn(0, 1), default: 1, meta: "P", help: "nucleus sampling (1 = off)" }),
  topK: S({ schema: intIn(0), default: 0, meta: "K", help: "top-k sampling (0 = off)" }),
  seed: S({ schema: orNull(seed), default: null, meta: "S", help: "sampler seed; default random" }),
  benchSeed: S({ flag: "seed", schema: seed, default: 1, meta: "S", help: "sampler seed for T > 0" }),
  json: S({ schema: bool, default: false, boolean: true, help: "JSON on stdout instead of text (generate: one object per prompt; bench: the summary only)" }),
  // distill and drafter init
  target: S({ schema: optString, default: null, alias: "model", meta: "PATH", help: "the target GGUF the drafter is made for (the teacher)" }),
  out: S({ schema: optString, default: null, meta: "PATH", help: "drafter GGUF to write (distill: a checkpoint goes to PATH.ckpt)" }),
  holdout: S({ schema: intIn(0), default: 16, meta: "H", help: "prompts kept out of training for the tau measurement" }),
  maxNewTokens: S({ schema: intIn(1), default: 128, meta: "N", help: "teacher answer length" }),
  parallel: S({ schema: intIn(1, 256), default: 8, meta: "P", help: "sequences the teacher decodes together" }),
  teacherTopK: S({ flag: "top-k", schema: intIn(1, 32), default: 16, meta: "K", help: "teacher probabilities kept per position" }),
  trainBeamLength: S({ flag: "beam-length", schema: beamLength, default: 4, meta: "L", help: "draft steps trained (teacher forcing) and used for tau" }),
  trainDraftVocab: S({ flag: "draft-vocab", schema: intIn(1), default: 8192, meta: "N", help: "draft vocabulary: the N most frequent answer tokens" }),
  initDraftVocab: S({ flag: "draft-vocab", schema: intIn(0), default: 0, meta: "N", help: "draft vocabulary V' (0 = the whole target vocab)" }),
  nProj: S({ schema: orNull(intIn(0)), default: null, alias: "proj", meta: "E", help: "input projection 2d -> E (0 = none); default: d for d >= 512, else none" }),
  nLayers: S({ schema: intIn(0, 16), default: 1, alias: "layers", meta: "N", help: "ResBlocks" }),
  trainWeights: S({ flag: "weights", schema: weights, default: "f16", meta: "TYPE", help: "f32 | f16 | q8_0 for the saved drafter" }),
  initWeights: S({ flag: "weights", schema: weights, default: "f32", meta: "TYPE", help: "f32 | f16 | q8_0" }),
  epochs: S({ schema: intIn(1), default: 2, meta: "E", help: "passes over the teacher data" }),
  batch: S({ schema: intIn(1), default: 64, meta: "N", help: "samples per step" }),
  lr: S({ schema: numberIn(1e-8), default: 1e-3, meta: "X", help: "peak learning rate" }),
  initSeed: S({ flag: "seed", schema: intIn(0), default: 42, meta: "S", help: "initialisation (and distill: data order) seed" }),
  resume: S({ schema: bool, default: false, boolean: true, help: "continue training from PATH.ckpt (same settings, its teacher data as is)" }),
  score: S({ schema: stringList, default: [], repeat: true, meta: "FILE",
    help: "also score by prefill (every position recorded, at prompt-processing speed) the prompts' texts and this file's (repeatable; duplicates and held-out prompts dropped)" }),
  answer: S({ schema: stringList, default: [], repeat: true, meta: "FILE",
    help: "also have the target answer this file's prompts (a teacher file of its own per file, so the --prompts cache stays valid; duplicates and held-out prompts dropped)" }),
  answerMaxS: S({ schema: numberIn(0), default: 0, meta: "S", help: "stop answering each --answer file after S seconds (0 = no limit)" }),
  scoreMaxS: S({ schema: numberIn(0), default: 0, meta: "S", help: "stop scoring after S seconds (0 = no limit)" }),
  maxPositions: S({ schema: intIn(0), default: 0, meta: "N", help: "train on whole training sequences up to N positions, in a seeded order (0 = all): points of a data curve" }),
  saveHoldout: S({ schema: optString, default: null, meta: "PATH", help: "write the held-out prompts to this JSONL file (for redrafter bench)" }),
  teacherMaxS: S({ schema: numberIn(0), default: 0, meta: "S", help: "stop collecting after S seconds and train on what is there (0 = no limit)" }),
  tauTokens: S({ schema: intIn(1), default: 64, meta: "N", help: "tokens per held-out prompt for tau" }),
  cacheDir: S({ schema: optString, default: null, meta: "DIR", help: "teacher data cache; default .cache/distill in the repository" }),
} as const;

type Table = typeof TABLE;
export type SettingName = keyof Table;
const kebab = (k: string) => k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
const snake = (k: string) => k.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase();

/** The table with every setting's flag and env var spelled out. */
export const SETTINGS = Object.fromEntries(
  Object.entries(TABLE).map(([k, s]) => [k, { ...s, flag: (s as Setting).flag ?? kebab(k), env: (s as Setting).env ?? `REDRAFTER_${snake(k)}` }]),
) as { [K in SettingName]: Table[K] & { flag: string; env: string } };

/** How every command that loads an engine loads it, the model aside (serve: models). */
export const ENGINE_SHAPE = [
  "drafter", "draft", "ctxSize", "beamWidth", "beamLength", "gpuLayers", "device", "threads", "recalibrateThreads",
  "flashAttn", "batchInvariant", "kvF32", "adaptive", "lazyHead", "lookup",
] as const;
/** The settings of every command that loads one engine. */
export const ENGINE = ["model", ...ENGINE_SHAPE] as const;

/** What each command reads. */
export const COMMANDS = {
  serve: [
    "models", ...ENGINE_SHAPE, "alias", "modelsMemoryMib", "host", "port", "slots", "queueSize", "maxQueueWait", "apiKey", "apiKeyFile", "maxBody", "corsOrigin", "allowedHost",
    "headerTimeout", "bodyTimeout", "requestTimeout", "shutdownGrace", "maxN", "maxPromptBytes", "maxSchemaDepth",
    "maxSchemaBytes", "maxSchemaAlternatives", "maxGrammarBytes", "upstreams", "logRequests", "logPrompts", "verbose",
  ],
  generate: [...ENGINE, "prompt", "prompts", "limit", "chat", "maxTokens", "temperature", "topP", "topK", "seed", "json", "verbose"],
  bench: [...ENGINE, "prompts", "limit", "maxTokens", "temperature", "benchSeed", "raw", "roofline", "json", "verbose"],
  distill: [
    "target", "prompts", "out", "limit", "holdout", "maxNewTokens", "parallel", "teacherTopK", "trainBeamLength",
    "trainDraftVocab", "nProj", "nLayers", "trainWeights", "epochs", "batch", "lr", "initSeed", "resume", "teacherMaxS",
    "score", "answer", "answerMaxS", "scoreMaxS", "maxPositions", "saveHoldout", "tauTokens", "cacheDir", "threads", "verbose",
  ],
  drafterInit: ["target", "out", "initDraftVocab", "nLayers", "nProj", "initWeights", "initSeed", "verbose"],
} as const satisfies Record<string, readonly SettingName[]>;

export class ConfigError extends Error {
  override name = "ConfigError";
}

type Source = "flag" | "env" | "file" | "default";
type Raw = Partial<Record<SettingName, unknown>>;

/** One command's view of the table: its zod object, defaults, loader and --help rows. */
export function settingsOf<const K extends SettingName>(keys: readonly K[]) {
  const schema = z.object(Object.fromEntries(keys.map((k) => [k, SETTINGS[k].schema])) as { [P in K]: Table[P]["schema"] }).strict();
  type Values = z.infer<typeof schema>;
  const defaults = Object.fromEntries(keys.map((k) => [k, SETTINGS[k].default])) as Values;

  // every spelling this command takes: a fixed value (switches, --no-x) or one that follows
  const flags = new Map<string, { key: K; fixed?: { value: unknown } }>();
  const add = (name: string, key: K, fixed?: { value: unknown }) => {
    if (flags.has(name) || name === "config") throw new Error(`settings: --${name} twice in one command`);
    flags.set(name, { key, fixed });
  };
  for (const k of keys) {
    const s: Setting & { flag: string } = SETTINGS[k];
    for (const name of [s.flag, ...(s.alias ? [s.alias] : [])]) add(name, k, s.boolean && { value: true });
    if (s.boolean || s.off !== undefined) add(`no-${s.flag}`, k, { value: s.boolean ? false : s.off });
    for (const [name, value] of Object.entries(s.switches ?? {})) add(name, k, { value });
  }

  function parseFlags(argv: string[]) {
    const values: Raw = {};
    let configPath: string | null = null;
    let help = false;
    for (let i = 0; i < argv.length; i++) {
      const arg = argv[i]!;
      if (arg === "-h" || arg === "--help") {
        help = true;
        continue;
      }
      if (!arg.startsWith("--")) throw new ConfigError(`unexpected argument '${arg}' (see --help)`);
      const eq = arg.indexOf("=");
      const name = arg.slice(2, eq < 0 ? undefined : eq);
      const inline = eq < 0 ? undefined : arg.slice(eq + 1);
      const takeValue = (): string => {
        if (inline !== undefined) return inline;
        const next = argv[i + 1];
        if (next === undefined || (next.startsWith("--") && next.length > 2)) throw new ConfigError(`--${name} needs a value`);
        i++;
        return next;
      };
      if (name === "config") {
        configPath = takeValue();
        continue;
      }
      const f = flags.get(name);
      if (!f) throw new ConfigError(`unknown option --${name} (see --help)`);
      // --bool=value is the one fixed spelling that takes a value
      if (f.fixed && inline !== undefined && f.fixed.value !== true) throw new ConfigError(`--${name} takes no value`);
      const value = f.fixed && inline === undefined ? f.fixed.value : takeValue();
      const s: Setting = SETTINGS[f.key];
      values[f.key] = s.repeat && values[f.key] !== undefined ? `${values[f.key]},${value}` : value;
    }
    return { values, configPath, help };
  }

  function readConfigFile(path: string): Raw {
    let text: string;
    try {
      text = readFileSync(path, "utf8");
    } catch (e) {
      throw new ConfigError(`cannot read config file ${path}: ${(e as Error).message}`);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      throw new ConfigError(`config file ${path} is not valid JSON: ${(e as Error).message}`);
    }
    if (typeof json !== "object" || json === null || Array.isArray(json)) throw new ConfigError(`config file ${path} must hold a JSON object`);
    const out: Raw = {};
    for (const [name, v] of Object.entries(json)) {
      const key = (keys as readonly string[]).includes(name) ? (name as K) : flags.get(name)?.key;
      if (key) out[key] = v;
      // a file shared by several commands holds the others' settings too
      else if (!(name in TABLE)) throw new ConfigError(`config file ${path}: unknown setting '${name}'`);
    }
    return out;
  }

  function describe(k: K, from: Source, configPath: string | null): string {
    const s = SETTINGS[k];
    return { flag: `--${s.flag}`, env: `env ${s.env}`, file: `'${k}' in ${configPath}`, default: `default of --${s.flag}` }[from];
  }

  /** Flags > env > file (--config or REDRAFTER_CONFIG) > defaults. Throws ConfigError. */
  function load(argv: string[], env: Record<string, string | undefined> = process.env): { values: Values; help: boolean } {
    const flagged = parseFlags(argv);
    const configPath = flagged.configPath ?? (env.REDRAFTER_CONFIG || null);
    const file = configPath ? readConfigFile(configPath) : {};
    const raw: Raw = {};
    const from = {} as Record<K, Source>;
    for (const k of keys) {
      const e = env[SETTINGS[k].env];
      if (k in flagged.values) [raw[k], from[k]] = [flagged.values[k], "flag"];
      else if (e !== undefined) [raw[k], from[k]] = [e, "env"];
      else if (k in file) [raw[k], from[k]] = [file[k], "file"];
      else [raw[k], from[k]] = [SETTINGS[k].default, "default"];
    }
    const parsed = schema.safeParse(raw);
    if (!parsed.success) {
      const lines = parsed.error.issues.map((issue) => {
        const k = issue.path[0] as K;
        const flag = SETTINGS[k].flag;
        // a number out of range given as a flag: the flag the user just typed says where
        if (from[k] === "flag" && (issue.code === "too_small" || issue.code === "too_big")) {
          const [op, bound] = issue.code === "too_small" ? [issue.inclusive ? ">=" : ">", issue.minimum] : [issue.inclusive ? "<=" : "<", issue.maximum];
          return `--${flag} must be ${op} ${bound}, got ${raw[k]}`;
        }
        return `invalid ${flag} ${JSON.stringify(raw[k])} (from ${describe(k, from[k], configPath)}): ${issue.message}`;
      });
      throw new ConfigError(lines.join("\n"));
    }
    return { values: parsed.data as Values, help: flagged.help };
  }

  /** --help rows, generated from the table so they never drift from the parser. */
  function help(): string {
    const rows = keys.map((k) => {
      const s: Setting & { flag: string; env: string } = SETTINGS[k];
      const flag = s.boolean ? `--[no-]${s.flag}` : `--${s.off === undefined ? "" : "[no-]"}${s.flag} ${s.meta ?? "V"}`;
      const shown = s.shown ?? s.default;
      const def = shown === null || shown === "" || (Array.isArray(shown) && shown.length === 0) ? "" : ` [${typeof shown === "string" ? shown : JSON.stringify(shown)}]`;
      const also = [...(s.alias ? [`also --${s.alias}`] : []), ...Object.entries(s.switches ?? {}).map(([n, v]) => `--${n} = --${v === false ? "no-" : ""}${s.flag}`)];
      return [`  ${flag}`, `${s.help}${def}${also.length ? ` (${also.join("; ")})` : ""} (${s.env})`];
    });
    rows.push(["  --config FILE", "JSON file of settings (keys: the names above in camelCase or as flags) (REDRAFTER_CONFIG)"]);
    const w = Math.max(...rows.map((r) => r[0]!.length)) + 2;
    return rows.map(([a, b]) => a!.padEnd(w) + b).join("\n");
  }

  return { schema, defaults, load, help };
}

const serve = settingsOf(COMMANDS.serve);
export const configSchema = serve.schema;
/** serve's validated settings. */
export type Config = z.infer<typeof configSchema>;
export const defaultConfig: Config = serve.defaults;

export interface LoadedConfig {
  config: Config;
  help: boolean;
}

/** serve's settings: flags > env > file (--config or REDRAFTER_CONFIG) > defaults. */
export function loadConfig(argv: string[], env: Record<string, string | undefined> = process.env): LoadedConfig {
  const { values, help } = serve.load(argv, env);
  return { config: values, help };
}

export const configHelp = serve.help;
