// config.ts - the server's settings: one table (flag, env var, help, zod schema) feeding one
// zod object. Values come from CLI flags > REDRAFTER_* env vars > a JSON file (--config) >
// defaults that serve; an invalid value fails with the setting's name and where it came from.
import { readFileSync } from "node:fs";
import { z } from "zod";
import { parseThreads } from "./engine/threads.ts";

// Flags and env vars carry strings; the file carries JSON. Both pass through the same schema, so
// numbers and booleans accept their string spelling too.
const intIn = (min: number, max: number) =>
  z.preprocess(
    (v) => (typeof v === "string" && /^\s*-?\d+\s*$/.test(v) ? Number(v) : v),
    z.number().int().min(min).max(max),
  );

const TRUE = new Set(["1", "true", "yes", "on"]);
const FALSE = new Set(["0", "false", "no", "off"]);
const bool = z.preprocess((v) => {
  if (typeof v !== "string") return v;
  const s = v.trim().toLowerCase();
  return TRUE.has(s) ? true : FALSE.has(s) ? false : v;
}, z.boolean());

const optString = z.preprocess((v) => (v === "" ? null : v), z.string().min(1).nullable());

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

interface Setting {
  flag: string; // --flag; booleans also take --no-flag
  env: string;
  help: string;
  schema: z.ZodType;
  default: unknown;
  boolean?: true;
  repeat?: true; // the flag may be given several times
  meta?: string; // placeholder in --help
}

const S = <T extends z.ZodType>(s: Setting & { schema: T }) => s;

/** Every setting, keyed by its name in the config file (camelCase). */
export const SETTINGS = {
  model: S({ flag: "model", env: "REDRAFTER_MODEL", schema: optString, default: null, meta: "PATH|hf:U/R/F",
    help: "target GGUF: a path or hf:<user>/<repo>/<file>; default: Gemma 3 270M Q4_K_M, fetched on first use" }),
  drafter: S({ flag: "drafter", env: "REDRAFTER_DRAFTER", schema: optString, default: null, meta: "PATH",
    help: "ReDrafter draft head GGUF; default: the shipped drafter matching the model, if any" }),
  draft: S({ flag: "draft", env: "REDRAFTER_DRAFT", schema: bool, default: true, boolean: true,
    help: "speculative decoding (--no-draft serves plain autoregressive decoding)" }),
  alias: S({ flag: "alias", env: "REDRAFTER_ALIAS", schema: stringList, default: [], repeat: true, meta: "NAME",
    help: "extra model id clients may send in `model` (repeatable, or comma-separated)" }),
  host: S({ flag: "host", env: "REDRAFTER_HOST", schema: z.string().min(1), default: "127.0.0.1", meta: "ADDR",
    help: "address to listen on" }),
  port: S({ flag: "port", env: "REDRAFTER_PORT", schema: intIn(0, 65535), default: 8080, meta: "N",
    help: "TCP port (0 = any free port)" }),
  ctxSize: S({ flag: "ctx-size", env: "REDRAFTER_CTX_SIZE", schema: intIn(0, 1 << 22), default: 0, meta: "N",
    help: "context per slot, prompt + completion (0 = 4096 capped at the model's training context)" }),
  beamWidth: S({ flag: "beam-width", env: "REDRAFTER_BEAM_WIDTH", schema: intIn(1, 16), default: 1, meta: "B",
    help: "draft beams per step (1: each tree node costs a full LM-head row on CPU)" }),
  beamLength: S({ flag: "beam-length", env: "REDRAFTER_BEAM_LENGTH", schema: intIn(1, 16), default: 2, meta: "L",
    help: "draft tokens per beam (the most; the adaptive policy picks 0..L per step)" }),
  gpuLayers: S({ flag: "gpu-layers", env: "REDRAFTER_GPU_LAYERS", schema: intIn(-1, 100000), default: -1, meta: "N",
    help: "layers to offload to the GPU (-1 = all, 0 = CPU only)" }),
  device: S({ flag: "device", env: "REDRAFTER_DEVICE", schema: optString, default: null, meta: "NAME",
    help: "ggml device (CUDA0, Metal, Vulkan0, CPU); default: llama.cpp's choice" }),
  threads: S({ flag: "threads", env: "REDRAFTER_THREADS", schema: threads, default: "auto", meta: "N|auto",
    help: "CPU threads per slot; auto: the count that ran decoding steps fastest when measured at start-up (cached per model, drafter, CPU and library in $REDRAFTER_THREADS_CACHE, else ~/.cache/redrafter/threads.json)" }),
  recalibrateThreads: S({ flag: "recalibrate-threads", env: "REDRAFTER_RECALIBRATE_THREADS", schema: bool, default: false, boolean: true,
    help: "with --threads auto, measure again instead of reading the cached timings" }),
  flashAttn: S({ flag: "flash-attn", env: "REDRAFTER_FLASH_ATTN", schema: flashAttn, default: -1, meta: "auto|on|off",
    help: "flash attention" }),
  batchInvariant: S({ flag: "batch-invariant", env: "REDRAFTER_BATCH_INVARIANT", schema: bool, default: true, boolean: true,
    help: "logits that do not depend on the batch, so speculative output equals plain decoding bit for bit (flash attention on, f16 KV, one chain per step; checked at load)" }),
  kvF32: S({ flag: "kv-f32", env: "REDRAFTER_KV_F32", schema: bool, default: false, boolean: true,
    help: "f32 KV cache instead of f16" }),
  adaptive: S({ flag: "adaptive", env: "REDRAFTER_ADAPTIVE", schema: bool, default: true, boolean: true,
    help: "pick the draft length per step from measured acceptance and verify cost (--no-adaptive: always B x L)" }),
  lazyHead: S({ flag: "lazy-head", env: "REDRAFTER_LAZY_HEAD", schema: bool, default: true, boolean: true,
    help: "run the LM head only for the tree nodes the acceptance walk reaches (--no-lazy-head: every node)" }),
  lookup: S({ flag: "lookup", env: "REDRAFTER_LOOKUP", schema: intIn(0, 16), default: 16, meta: "N",
    help: "context copy: up to N tokens that followed the last tokens where they occurred before join the tree (0 = off)" }),
  slots: S({ flag: "slots", env: "REDRAFTER_SLOTS", schema: intIn(1, 64), default: 1, meta: "N",
    help: "generations that run at once" }),
  queueSize: S({ flag: "queue-size", env: "REDRAFTER_QUEUE_SIZE", schema: intIn(0, 100000), default: 16, meta: "N",
    help: "requests that may wait for a slot; more get 429" }),
  apiKey: S({ flag: "api-key", env: "REDRAFTER_API_KEY", schema: optString, default: null, meta: "KEY",
    help: "require `Authorization: Bearer KEY` on /v1/*" }),
  apiKeyFile: S({ flag: "api-key-file", env: "REDRAFTER_API_KEY_FILE", schema: optString, default: null, meta: "PATH",
    help: "read the API key from this file (first line), so it shows in neither `ps` nor the environment" }),
  maxBody: S({ flag: "max-body", env: "REDRAFTER_MAX_BODY", schema: byteSize, default: 1024 * 1024, meta: "BYTES",
    help: "largest request body (e.g. 1MiB); larger get 413" }),
  corsOrigin: S({ flag: "cors-origin", env: "REDRAFTER_CORS_ORIGIN", schema: stringList, default: [], repeat: true,
    meta: "ORIGIN", help: "web origins allowed to call the API from a browser (repeatable; * = any); none by default" }),
  allowedHost: S({ flag: "allowed-host", env: "REDRAFTER_ALLOWED_HOST", schema: stringList, default: [], repeat: true,
    meta: "NAME", help: "Host header names accepted besides the listen address, localhost and IP literals (repeatable; * = any)" }),
  headerTimeout: S({ flag: "header-timeout", env: "REDRAFTER_HEADER_TIMEOUT", schema: intIn(1, 255), default: 30, meta: "SECONDS",
    help: "a connection whose request is still unanswered after this long without traffic is closed (generations are bounded by --request-timeout instead)" }),
  bodyTimeout: S({ flag: "body-timeout", env: "REDRAFTER_BODY_TIMEOUT", schema: intIn(1, 3600), default: 30, meta: "SECONDS",
    help: "time to receive a whole request body; slower uploads get 408" }),
  requestTimeout: S({ flag: "request-timeout", env: "REDRAFTER_REQUEST_TIMEOUT", schema: intIn(0, 86400), default: 600, meta: "SECONDS",
    help: "longest a generation may run, queue included (0 = no limit); longer ones end with an error" }),
  shutdownGrace: S({ flag: "shutdown-grace", env: "REDRAFTER_SHUTDOWN_GRACE", schema: intIn(0, 3600), default: 10, meta: "SECONDS",
    help: "on SIGTERM/SIGINT, running generations may finish for this long before they are cancelled" }),
  maxN: S({ flag: "max-n", env: "REDRAFTER_MAX_N", schema: intIn(1, 128), default: 16, meta: "N",
    help: "largest `n` (choices per request)" }),
  maxPromptBytes: S({ flag: "max-prompt-bytes", env: "REDRAFTER_MAX_PROMPT_BYTES", schema: intIn(0, 1 << 30), default: 0, meta: "BYTES",
    help: "largest prompt text, checked before tokenizing (0 = 16 bytes per token of context)" }),
  maxSchemaDepth: S({ flag: "max-schema-depth", env: "REDRAFTER_MAX_SCHEMA_DEPTH", schema: intIn(1, 10000), default: 64, meta: "N",
    help: "deepest nesting of a response_format JSON schema" }),
  maxSchemaBytes: S({ flag: "max-schema-bytes", env: "REDRAFTER_MAX_SCHEMA_BYTES", schema: intIn(64, 1 << 30), default: 64 * 1024, meta: "BYTES",
    help: "largest response_format JSON schema, as JSON text" }),
  maxSchemaAlternatives: S({ flag: "max-schema-alternatives", env: "REDRAFTER_MAX_SCHEMA_ALTERNATIVES", schema: intIn(1, 1 << 20), default: 256, meta: "N",
    help: "most enum / anyOf / oneOf entries in a response_format JSON schema, all counted (each costs grammar work per token)" }),
  maxGrammarBytes: S({ flag: "max-grammar-bytes", env: "REDRAFTER_MAX_GRAMMAR_BYTES", schema: intIn(64, 1 << 30), default: 256 * 1024, meta: "BYTES",
    help: "largest GBNF grammar a response_format may become (measured while it is generated)" }),
  logRequests: S({ flag: "log-requests", env: "REDRAFTER_LOG_REQUESTS", schema: bool, default: true, boolean: true,
    help: "one line per request on stderr" }),
  verbose: S({ flag: "verbose", env: "REDRAFTER_VERBOSE", schema: bool, default: false, boolean: true,
    help: "llama.cpp / ggml logging on stderr" }),
} as const;

export type SettingName = keyof typeof SETTINGS;
const NAMES = Object.keys(SETTINGS) as SettingName[];

export const configSchema = z.object(
  Object.fromEntries(NAMES.map((k) => [k, SETTINGS[k].schema])) as { [K in SettingName]: (typeof SETTINGS)[K]["schema"] },
).strict();

/** Validated settings. */
export type Config = z.infer<typeof configSchema>;

export const defaultConfig: Config = Object.fromEntries(NAMES.map((k) => [k, SETTINGS[k].default])) as unknown as Config;

export class ConfigError extends Error {
  override name = "ConfigError";
}

type Source = "flag" | "env" | "file" | "default";
interface Layered {
  values: Record<string, unknown>;
  from: Record<string, Source>;
  configPath: string | null;
  help: boolean;
}

const byFlag = new Map<string, SettingName>(NAMES.map((k) => [SETTINGS[k].flag, k]));
// the config file may spell a key as the setting name or as its flag
const byFileKey = new Map<string, SettingName>([...NAMES.map((k) => [k, k] as const), ...byFlag]);

/** Flags to raw values. `--flag value`, `--flag=value`, `--bool`, `--no-bool`. */
function parseFlags(argv: string[]): { values: Record<string, unknown>; configPath: string | null; help: boolean } {
  const values: Record<string, unknown> = {};
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
    const negated = name.startsWith("no-") ? byFlag.get(name.slice(3)) : undefined;
    if (negated && SETTINGS[negated].boolean) {
      if (inline !== undefined) throw new ConfigError(`--${name} takes no value`);
      values[negated] = false;
      continue;
    }
    const key = byFlag.get(name);
    if (!key) throw new ConfigError(`unknown option --${name} (see --help)`);
    const s: Setting = SETTINGS[key];
    const value = s.boolean && inline === undefined ? true : takeValue();
    if (s.repeat && values[key] !== undefined) values[key] = `${values[key]},${value}`;
    else values[key] = value;
  }
  return { values, configPath, help };
}

function readConfigFile(path: string): Record<string, unknown> {
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
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new ConfigError(`config file ${path} must hold a JSON object`);
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(json)) {
    const key = byFileKey.get(k);
    if (!key) throw new ConfigError(`config file ${path}: unknown setting '${k}'`);
    out[key] = v;
  }
  return out;
}

function layer(argv: string[], env: Record<string, string | undefined>): Layered {
  const flags = parseFlags(argv);
  const configPath = flags.configPath ?? (env.REDRAFTER_CONFIG || null);
  const file = configPath ? readConfigFile(configPath) : {};
  const values: Record<string, unknown> = {};
  const from: Record<string, Source> = {};
  for (const k of NAMES) {
    const e = env[SETTINGS[k].env];
    if (k in flags.values) [values[k], from[k]] = [flags.values[k], "flag"];
    else if (e !== undefined) [values[k], from[k]] = [e, "env"];
    else if (k in file) [values[k], from[k]] = [file[k], "file"];
    else [values[k], from[k]] = [SETTINGS[k].default, "default"];
  }
  return { values, from, configPath, help: flags.help };
}

function describeSource(k: SettingName, from: Source, configPath: string | null): string {
  const s = SETTINGS[k];
  switch (from) {
    case "flag": return `--${s.flag}`;
    case "env": return `env ${s.env}`;
    case "file": return `'${k}' in ${configPath}`;
    default: return `default of --${s.flag}`;
  }
}

export interface LoadedConfig {
  config: Config;
  help: boolean;
}

/** Flags > env > file (--config or REDRAFTER_CONFIG) > defaults. Throws ConfigError. */
export function loadConfig(argv: string[], env: Record<string, string | undefined> = process.env): LoadedConfig {
  const { values, from, configPath, help } = layer(argv, env);
  const parsed = configSchema.safeParse(values);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => {
      const k = issue.path[0] as SettingName;
      const raw = JSON.stringify(values[k]);
      return `invalid ${SETTINGS[k].flag} ${raw} (from ${describeSource(k, from[k]!, configPath)}): ${issue.message}`;
    });
    throw new ConfigError(lines.join("\n"));
  }
  return { config: parsed.data as Config, help };
}

/** --help text, generated from the table so it never drifts from the parser. */
export function configHelp(): string {
  const rows = NAMES.map((k) => {
    const s: Setting = SETTINGS[k];
    const flag = s.boolean ? `--[no-]${s.flag}` : `--${s.flag} ${s.meta ?? "V"}`;
    const shown = k === "flashAttn" ? "auto" : s.default;
    const def = shown === null || (Array.isArray(shown) && shown.length === 0) ? "" : ` [${JSON.stringify(shown)}]`;
    return [`  ${flag}`, `${s.help}${def} (${s.env})`];
  });
  rows.push(["  --config FILE", "JSON file of settings (keys: the names above in camelCase or as flags) (REDRAFTER_CONFIG)"]);
  const w = Math.max(...rows.map((r) => r[0]!.length)) + 2;
  return rows.map(([a, b]) => a!.padEnd(w) + b).join("\n");
}
