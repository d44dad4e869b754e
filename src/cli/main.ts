// main.ts - the `redrafter` command: a dispatch table of subcommands. bin/redrafter.js runs this
// file with Bun. User errors print `error: <message>` and exit 1, never a stack trace.
import { nativeVersion, setNativeLogQuiet } from "../ffi/symbols.ts";
import { resolveModel } from "../models/resolve.ts";
import { UsageError } from "./args.ts";
import { runBench } from "./bench.ts";
import { runDistill } from "./distill.ts";
import { runDrafter } from "./drafter.ts";
import { runGenerate } from "./generate.ts";
import { runModels } from "./models.ts";
import { runPull } from "./pull.ts";

interface Command {
  summary: string;
  run: (argv: string[]) => Promise<void>;
  /** Flags that name a target model: a catalog name, hf: reference or path, resolved to a file
   *  (fetched first if need be) before the command runs. serve resolves its own (config.ts). */
  modelFlags?: string[];
}

const commands: Record<string, Command> = {
  serve: {
    summary: "OpenAI-compatible HTTP server",
    run: async (argv) => {
      const { runServe } = await import("./serve.ts").catch(() => {
        throw new UsageError("'redrafter serve' is not built yet");
      });
      await runServe(argv);
    },
  },
  generate: { summary: "generate text from prompts (speculative or plain), print stats", run: runGenerate, modelFlags: ["model"] },
  drafter: { summary: "drafter files: `drafter init` writes a randomly initialised drafter", run: runDrafter, modelFlags: ["target"] },
  distill: { summary: "train a drafter by knowledge distillation from the target", run: runDistill, modelFlags: ["target", "model"] },
  bench: { summary: "measure speedup, tau and tree dedup against plain decoding", run: runBench, modelFlags: ["model"] },
  pull: { summary: "fetch a model into the cache (a catalog name, hf:USER/REPO/FILE or a path)", run: runPull },
  models: { summary: "list the catalog's models: size, sha256, cached or not, drafter shipped or not", run: runModels },
};

/** argv with the value of each of flags (`--flag V`, `--flag=V`) replaced by the file it names. */
async function resolveModelFlags(argv: string[], flags: string[]): Promise<string[]> {
  if (argv.includes("--help") || argv.includes("-h")) return argv;
  const out = [...argv];
  for (let i = 0; i < out.length; i++) {
    const a = out[i]!;
    const flag = flags.find((f) => a === `--${f}` || a.startsWith(`--${f}=`));
    if (flag === undefined) continue;
    if (a === `--${flag}`) {
      const value = out[i + 1];
      if (value !== undefined && !value.startsWith("-")) out[++i] = await resolveModel(value);
    } else out[i] = `--${flag}=${await resolveModel(a.slice(flag.length + 3))}`;
  }
  return out;
}

function usage(): string {
  const width = Math.max(...Object.keys(commands).map((c) => c.length));
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return `usage: redrafter <command> [options]\n\ncommands:\n${lines.join("\n")}\n\nRun 'redrafter <command> --help' for a command's options.`;
}

async function main(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    console.log(usage());
    return;
  }
  if (name === "--version") {
    const pkg = await import("../../package.json", { with: { type: "json" } });
    let native: string;
    try {
      setNativeLogQuiet(true);
      native = nativeVersion();
    } catch (e) {
      native = `not loaded: ${e instanceof Error ? e.message : e}`;
    }
    console.log(`redrafter ${pkg.default.version} (libredrafter ${native})`);
    return;
  }
  const cmd = commands[name];
  if (!cmd) throw new UsageError(`unknown command '${name}'\n\n${usage()}`);
  await cmd.run(cmd.modelFlags ? await resolveModelFlags(rest, cmd.modelFlags) : rest);
}

main(process.argv.slice(2)).then(
  () => process.exit(process.exitCode ?? 0),
  (e: unknown) => {
    const msg = e instanceof Error ? e.message : String(e);
    console.error(`error: ${msg}`);
    if (process.env.RD_DEBUG && e instanceof Error && e.stack) console.error(e.stack);
    process.exit(1);
  },
);
