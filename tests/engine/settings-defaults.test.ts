// settings-defaults.test.ts - the defaults agree everywhere: config.ts's table against the
// library's rd_*_default_params (read through FFI), against each command's --help, and against
// redrafter-cli's usage (which prints the library's defaults).
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { COMMANDS, SETTINGS, type SettingName } from "../../src/config.ts";
import { Struct, type StructName } from "../../src/ffi/structs.ts";
import { lib, repoRoot } from "../../src/ffi/symbols.ts";
import { BUILD_TIMEOUT_MS, ensureNative } from "../helpers/tiny-model.ts";

const WEIGHTS = ["f32", "f16", "q8_0"]; // RD_WEIGHTS_F32, _F16, _Q8_0
const FLASH: Record<number, string> = { [-1]: "auto", 0: "off", 1: "on" };

// setting -> [params struct, field, how the table spells the native value]
const NATIVE: [SettingName, StructName, string, (v: number) => unknown][] = [
  ["ctxSize", "rd_session_params", "n_ctx", (v) => v],
  ["beamWidth", "rd_session_params", "beam_width", (v) => v],
  ["beamLength", "rd_session_params", "beam_length", (v) => v],
  ["flashAttn", "rd_session_params", "flash_attn", (v) => v],
  ["kvF32", "rd_session_params", "kv_f32", (v) => v !== 0],
  ["adaptive", "rd_session_params", "adaptive", (v) => v !== 0],
  ["lazyHead", "rd_session_params", "lazy_head", (v) => v !== 0],
  ["lookup", "rd_session_params", "lookup", (v) => v],
  ["gpuLayers", "rd_model_params", "n_gpu_layers", (v) => v],
  ["batchInvariant", "rd_model_params", "batch_invariant", (v) => v !== 0],
  ["temperature", "rd_sampler_params", "temperature", (v) => v],
  ["topK", "rd_sampler_params", "top_k", (v) => v],
  ["topP", "rd_sampler_params", "top_p", (v) => v],
  ["parallel", "rd_teacher_params", "n_parallel", (v) => v],
  ["maxNewTokens", "rd_teacher_params", "max_new_tokens", (v) => v],
  ["teacherTopK", "rd_teacher_params", "top_k", (v) => v],
  ["trainBeamLength", "rd_train_params", "beam_length", (v) => v],
  ["trainDraftVocab", "rd_train_params", "n_draft_vocab", (v) => v],
  ["nLayers", "rd_train_params", "n_layers", (v) => v],
  ["trainWeights", "rd_train_params", "weight_type", (v) => WEIGHTS[v]],
  ["epochs", "rd_train_params", "epochs", (v) => v],
  ["batch", "rd_train_params", "batch_size", (v) => v],
  ["lr", "rd_train_params", "lr", (v) => Math.fround(v)],
  ["initSeed", "rd_train_params", "seed", (v) => v],
  ["initDraftVocab", "rd_drafter_init_params", "n_draft_vocab", (v) => v],
  ["initWeights", "rd_drafter_init_params", "weight_type", (v) => WEIGHTS[v]],
  ["initSeed", "rd_drafter_init_params", "seed", (v) => v],
];

const DEFAULT_FN: Partial<Record<StructName, string>> = {
  rd_session_params: "rd_session_default_params", rd_model_params: "rd_model_default_params",
  rd_sampler_params: "rd_sampler_default_params", rd_teacher_params: "rd_teacher_default_params",
  rd_train_params: "rd_train_default_params", rd_drafter_init_params: "rd_drafter_init_default_params",
};

const shown = (k: SettingName) => {
  const s = SETTINGS[k] as { default: unknown; shown?: string };
  return s.shown ?? s.default;
};

beforeAll(() => ensureNative(), BUILD_TIMEOUT_MS);

describe("settings defaults", () => {
  it("agree with the library's rd_*_default_params", () => {
    const L = lib() as unknown as Record<string, (p: Uint8Array) => void>;
    for (const [k, struct, field, spell] of NATIVE) {
      const p = new Struct(struct);
      L[DEFAULT_FN[struct]!]!(p.bytes);
      const native = spell(p.get(field as never));
      const table = k === "flashAttn" ? FLASH[SETTINGS[k].default] : k === "lr" ? Math.fround(SETTINGS[k].default) : SETTINGS[k].default;
      expect(k === "flashAttn" ? FLASH[native as number] : native, `${k} vs ${struct}.${field}`).toEqual(table);
    }
  });

  it("are what every command's --help says", () => {
    const run = (cmd: string[]) => spawnSync("bun", [join(repoRoot, "src/cli/main.ts"), ...cmd, "--help"], { encoding: "utf8" }).stdout;
    const commands: [keyof typeof COMMANDS, string[]][] = [
      ["serve", ["serve"]], ["generate", ["generate"]], ["bench", ["bench"]], ["distill", ["distill"]], ["drafterInit", ["drafter", "init"]],
    ];
    for (const [name, argv] of commands) {
      const help = run(argv);
      for (const k of COMMANDS[name] as readonly SettingName[]) {
        const line = help.split("\n").find((l) => l.startsWith(`  --${SETTINGS[k].flag} `) || l.startsWith(`  --[no-]${SETTINGS[k].flag} `));
        expect(line, `${name} --help lists --${SETTINGS[k].flag}`).toBeDefined();
        const d = shown(k);
        if (d === null || (Array.isArray(d) && d.length === 0)) continue;
        expect(line, `${name} --help, ${k}`).toContain(`[${typeof d === "string" ? d : JSON.stringify(d)}]`);
      }
    }
  });

  it("are what redrafter-cli's usage says", () => {
    const lib = process.env.RD_LIBRARY ?? join(repoRoot, "native/build/libredrafter.so");
    const cli = join(dirname(lib), "redrafter-cli");
    if (!existsSync(cli)) return;
    const usage = spawnSync(cli, [], { encoding: "utf8" }).stderr;
    for (const k of ["beamWidth", "beamLength", "gpuLayers", "maxTokens"] as const) {
      expect(usage, k).toContain(`--${SETTINGS[k].flag} [${SETTINGS[k].default}]`);
    }
  });
});
