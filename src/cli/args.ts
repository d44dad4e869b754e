// args.ts - option parsing shared by the subcommands: node:util parseArgs with --help, errors as
// UsageError (printed without a stack trace), and checked numeric conversions.
import { parseArgs } from "node:util";
import type { EngineOptions } from "../engine/engine.ts";
import { parseThreads, type ThreadsSetting } from "../engine/threads.ts";
import { shippedDrafterFor } from "../models/resolve.ts";

/** A mistake of the user's (bad flag, missing file): printed as `error: <message>`, exit 1. */
export class UsageError extends Error {
  override name = "UsageError";
}

type Options = Record<string, { type: "string" | "boolean"; short?: string; multiple?: false }>;

/** Parse argv against options; prints help and returns null for --help. */
export function parse<O extends Options>(argv: string[], options: O, help: string) {
  let parsed;
  try {
    parsed = parseArgs({ args: joinNegativeValues(argv, options), options: { ...options, help: { type: "boolean", short: "h" } }, strict: true, allowPositionals: true });
  } catch (e) {
    throw new UsageError(`${e instanceof Error ? e.message : e}\n\n${help}`);
  }
  if ((parsed.values as { help?: boolean }).help) {
    console.log(help);
    return null;
  }
  return parsed;
}

/** A number flag: undefined -> fallback; otherwise a finite number (integer when int) >= min. */
export function num(name: string, value: string | boolean | undefined, fallback: number, opts: { int?: boolean; min?: number; max?: number } = {}): number {
  if (value === undefined || typeof value === "boolean") return fallback;
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || (opts.int && !Number.isInteger(n))) {
    throw new UsageError(`--${name} expects ${opts.int ? "an integer" : "a number"}, got '${value}'`);
  }
  if (opts.min !== undefined && n < opts.min) throw new UsageError(`--${name} must be >= ${opts.min}, got ${n}`);
  if (opts.max !== undefined && n > opts.max) throw new UsageError(`--${name} must be <= ${opts.max}, got ${n}`);
  return n;
}

/** A string flag limited to choices. */
export function choice<C extends string>(name: string, value: string | boolean | undefined, choices: readonly C[], fallback: C): C {
  if (value === undefined || typeof value === "boolean") return fallback;
  if (!(choices as readonly string[]).includes(value)) throw new UsageError(`--${name} must be one of ${choices.join(", ")}, got '${value}'`);
  return value as C;
}

/** --threads: "auto" when absent; otherwise what the serve config accepts (parseThreads). */
export function threadsFlag(value: string | boolean | undefined): ThreadsSetting {
  if (value === undefined || typeof value === "boolean") return "auto";
  const t = parseThreads(value);
  if (t === undefined) throw new UsageError(`--threads expects auto or a whole number 1..1024, got '${value}'`);
  return t;
}

/** parseArgs reads `--gpu-layers -1` as two options; rewrite it as `--gpu-layers=-1`. */
function joinNegativeValues(argv: string[], options: Options): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const next = argv[i + 1];
    if (a.startsWith("--") && options[a.slice(2)]?.type === "string" && next !== undefined && /^-\d/.test(next)) {
      out.push(`${a}=${next}`);
      i++;
    } else out.push(a);
  }
  return out;
}

/** The flags every command that loads an engine takes (generate, bench). */
export const engineFlags = {
  model: { type: "string" },
  drafter: { type: "string" },
  "no-drafter": { type: "boolean" },
  "beam-width": { type: "string" },
  "beam-length": { type: "string" },
  "ctx-size": { type: "string" },
  threads: { type: "string" },
  "recalibrate-threads": { type: "boolean" },
  "gpu-layers": { type: "string" },
  device: { type: "string" },
  "flash-attn": { type: "string" },
  "kv-f32": { type: "boolean" },
  "no-batch-invariant": { type: "boolean" },
  "fixed-length": { type: "boolean" },
  "full-head": { type: "boolean" },
  lookup: { type: "string" },
  verbose: { type: "boolean" },
} as const;

type EngineFlagValues = { [K in keyof typeof engineFlags]?: (typeof engineFlags)[K]["type"] extends "boolean" ? boolean : string };

/** One-slot EngineOptions from the engine flags (--model must have been checked present). */
export function engineOptionsFrom(v: EngineFlagValues): EngineOptions {
  const flash = choice("flash-attn", v["flash-attn"], ["auto", "on", "off"] as const, "auto");
  return {
    model: v.model!,
    // the drafter shipped for this target (drafters/) unless one is named
    drafter: v["no-drafter"] ? null : (v.drafter ?? shippedDrafterFor(v.model!)),
    nCtx: num("ctx-size", v["ctx-size"], 0, { int: true, min: 0 }),
    // fastest shape measured on CPU with Gemma 3 270M (docs/distill.md): one beam, short drafts
    beamWidth: num("beam-width", v["beam-width"], 1, { int: true, min: 1, max: 16 }),
    beamLength: num("beam-length", v["beam-length"], 2, { int: true, min: 1, max: 16 }),
    nGpuLayers: num("gpu-layers", v["gpu-layers"], 0, { int: true, min: -1 }),
    device: v.device ?? null,
    threads: threadsFlag(v.threads),
    recalibrateThreads: v["recalibrate-threads"] ?? false,
    flashAttn: flash === "auto" ? -1 : flash === "on" ? 1 : 0,
    kvF32: v["kv-f32"] ?? false,
    batchInvariant: !v["no-batch-invariant"],
    adaptive: !v["fixed-length"],
    lazyHead: !v["full-head"],
    lookup: num("lookup", v.lookup, 16, { int: true, min: 0, max: 16 }),
    slots: 1,
    queueSize: 0,
  };
}
