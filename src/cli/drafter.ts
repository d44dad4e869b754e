// drafter.ts - `redrafter drafter <action>`: drafter files. `init` writes a randomly initialised
// drafter bound to a target (the starting point of distillation, and a fixture for tests).
import { COMMANDS, settingsOf } from "../config.ts";
import { Drafter } from "../ffi/drafter.ts";
import { Model } from "../ffi/model.ts";
import { setNativeLogQuiet } from "../ffi/symbols.ts";
import { autoProj, UsageError } from "./args.ts";

const settings = settingsOf(COMMANDS.drafterInit);

const HELP = `usage: redrafter drafter init --target M --out D.gguf [options]

${settings.help()}`;

export async function runDrafter(argv: string[]): Promise<void> {
  const [action, ...rest] = argv;
  if (action === undefined || action === "--help" || action === "-h") {
    console.log(HELP);
    return;
  }
  if (action !== "init") throw new UsageError(`unknown drafter action '${action}'\n\n${HELP}`);
  const { values: v, help } = settings.load(rest);
  if (help) return void console.log(HELP);
  if (!v.target || !v.out) throw new UsageError(`--target and --out are required\n\n${HELP}`);
  const weights = v.initWeights;
  setNativeLogQuiet(!v.verbose);
  using model = Model.load(v.target);
  const params = { nDraftVocab: v.initDraftVocab, nLayers: v.nLayers, nProj: v.nProj ?? autoProj(model), weights, seed: BigInt(v.initSeed) };
  Drafter.writeRandom(model, v.out, params);
  console.log(`wrote ${v.out} (${weights}, ${params.nLayers} layer(s), draft vocab ${params.nDraftVocab || model.nVocab})`);
}
