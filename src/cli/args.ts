// args.ts - what the subcommands share besides the settings table (config.ts): UsageError, the
// engine options built from the engine settings, and node:util parsing for the commands that take
// no settings of the table (pull, models, bench scripts).
import { parseArgs } from "node:util";
import { ENGINE, ENGINE_SHAPE, settingsOf, type Config } from "../config.ts";
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

type ShapeValues = Pick<Config, (typeof ENGINE_SHAPE)[number]>;
type EngineValues = ShapeValues & { model: string | null };

/** EngineOptions from the engine settings; serve adds its slots and queue. */
export function engineOptions(v: ShapeValues, model: string, drafter: string | null): EngineOptions {
  return {
    model, drafter, nCtx: v.ctxSize, beamWidth: v.beamWidth, beamLength: v.beamLength, nGpuLayers: v.gpuLayers, device: v.device,
    threads: v.threads, recalibrateThreads: v.recalibrateThreads, flashAttn: v.flashAttn, kvF32: v.kvF32,
    batchInvariant: v.batchInvariant, adaptive: v.adaptive, lazyHead: v.lazyHead, lookup: v.lookup, slots: 1, queueSize: 0,
  };
}

/** generate and bench: one slot on --model (checked present), the shipped drafter unless one is
 *  named or --no-drafter. */
export function localEngine(v: EngineValues): EngineOptions {
  const model = v.model!;
  return engineOptions(v, model, v.drafter === false ? null : (v.drafter ?? shippedDrafterFor(model)));
}

/** --n-proj's default, as distill trains it: the model width for d >= 512, else none. */
export const autoProj = (model: { nEmbd: number }) => (model.nEmbd >= 512 ? model.nEmbd : 0);

const engineSettings = settingsOf(ENGINE);

/** localEngine from flag values as parseArgs gives them ({ "beam-width": "2", "kv-f32": true }). */
export function engineOptionsFrom(flags: Record<string, string | boolean | undefined>): EngineOptions {
  const argv = Object.entries(flags).flatMap(([f, v]) => (v === undefined || v === false ? [] : v === true ? [`--${f}`] : [`--${f}=${v}`]));
  return localEngine(engineSettings.load(argv, {}).values);
}
