// drafter.ts - `redrafter drafter <action>`: drafter files. `init` writes a randomly initialised
// drafter bound to a target (the starting point of distillation, and a fixture for tests).
import { Drafter, WeightType, type WeightTypeName } from "../ffi/drafter.ts";
import { Model } from "../ffi/model.ts";
import { setNativeLogQuiet } from "../ffi/symbols.ts";
import { choice, num, parse, UsageError } from "./args.ts";

const HELP = `usage: redrafter drafter init --target M --out D.gguf [options]

  --target PATH        the target GGUF the drafter is made for (its fingerprint is stored)
  --out PATH           drafter GGUF to write
  --draft-vocab N      draft vocabulary V' (default 0 = the whole target vocab)
  --layers K           ResBlocks (default 1)
  --proj E             input projection 2d -> E (default 0 = none)
  --weights TYPE       f32 | f16 | q8_0 (default f32)
  --seed S             initialisation seed (default 42)
  --verbose            show llama.cpp logging`;

const options = {
  target: { type: "string" },
  out: { type: "string" },
  "draft-vocab": { type: "string" },
  layers: { type: "string" },
  proj: { type: "string" },
  weights: { type: "string" },
  seed: { type: "string" },
  verbose: { type: "boolean" },
} as const;

export async function runDrafter(argv: string[]): Promise<void> {
  const [action, ...rest] = argv;
  if (action === undefined || action === "--help" || action === "-h") {
    console.log(HELP);
    return;
  }
  if (action !== "init") throw new UsageError(`unknown drafter action '${action}'\n\n${HELP}`);
  const parsed = parse(rest, options, HELP);
  if (!parsed) return;
  const v = parsed.values;
  if (!v.target || !v.out) throw new UsageError(`--target and --out are required\n\n${HELP}`);
  const weights = choice("weights", v.weights, Object.keys(WeightType) as WeightTypeName[], "f32");
  const params = {
    nDraftVocab: num("draft-vocab", v["draft-vocab"], 0, { int: true, min: 0 }),
    nLayers: num("layers", v.layers, 1, { int: true, min: 0 }),
    nProj: num("proj", v.proj, 0, { int: true, min: 0 }),
    weights,
    seed: BigInt(num("seed", v.seed, 42, { int: true, min: 0 })),
  };
  setNativeLogQuiet(!v.verbose);
  using model = Model.load(v.target);
  Drafter.writeRandom(model, v.out, params);
  console.log(`wrote ${v.out} (${weights}, ${params.nLayers} layer(s), draft vocab ${params.nDraftVocab || model.nVocab})`);
}
