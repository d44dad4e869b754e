// local.ts - what serve's --model entries name, settled at start without loading any of them:
// each model's id (its file name without .gguf, which for a catalog model is its name), the ids
// it also answers to (--alias for the first, an entry's own, the catalog's), its drafter, and its
// file (a catalog model not in the cache yet is fetched when first needed). Mistakes (a missing
// file, an unknown name, one id for two models) fail here, before the server listens.
import { basename } from "node:path";
import { modelForFile, loadCatalog, modelFileName, shippedDrafter } from "./catalog.ts";
import { modelRef, resolveDrafter, resolveModel, shippedDrafterFor } from "./resolve.ts";

export interface LocalModel {
  id: string;
  aliases: string[];
  drafter: string | null; // the drafter GGUF it loads with; null: none
  file(): Promise<string>; // the GGUF (fetching a catalog model the first time)
}

/** One --model entry as config.ts parses it (this layer sits below config, so the shape is
 *  restated here): drafter a path, false for none, null for the shipped one. */
export interface LocalModelEntry {
  model: string;
  drafter: string | false | null;
  alias: string[];
}
interface Settings {
  models: LocalModelEntry[];
  drafter: string | false | null; // --drafter / --no-drafter, for the first model
  draft: boolean;
  alias: string[]; // --alias, for the first model
}
type Entry = Omit<LocalModelEntry, "model"> & { model: string | null }; // null: the catalog's default

/** The models to serve, the default first: --model entries, or the catalog's default when none.
 *  --drafter / --no-drafter and --alias belong to the first. */
export async function localModels(config: Settings, log: (msg: string) => void): Promise<LocalModel[]> {
  const [first, ...rest]: Entry[] = config.models.length ? config.models : [{ model: null, drafter: null, alias: [] }];
  if (config.drafter !== null && first!.drafter !== null) {
    throw new Error(`the first model's drafter is given twice: --drafter (or --no-drafter) and '${first!.model}=...'; keep one`);
  }
  if (!config.draft) log("speculative decoding off (--no-draft): plain autoregressive decoding");
  const models = [await localModel({ ...first!, drafter: config.drafter ?? first!.drafter, alias: [...config.alias, ...first!.alias] }, config.draft, true, log)];
  for (const e of rest) models.push(await localModel(e, config.draft, false, log));
  const owner = new Map<string, string>();
  for (const m of models) {
    for (const name of [m.id, ...m.aliases]) {
      const other = owner.get(name);
      if (other !== undefined) throw new Error(`'${name}' names two --model entries (${other} and ${m.id}): give each file its own name, or drop the alias`);
      owner.set(name, m.id);
    }
  }
  return models;
}

async function localModel(e: Entry, draft: boolean, isFirst: boolean, log: (msg: string) => void): Promise<LocalModel> {
  const ref = modelRef(e.model);
  const known = "catalog" in ref ? ref.catalog : undefined;
  // the default is fetched now, since it loads at start; an hf: reference too: its id is the name
  // of the file it downloads to
  let path = "path" in ref ? ref.path : isFirst || "hf" in ref ? await resolveModel(e.model, log) : null;
  const file = async () => (path ??= await resolveModel(e.model, log));
  const catalogModel = known ?? modelForFile(loadCatalog(), basename(path!));
  const id = (path ? basename(path) : modelFileName(known!)).replace(/\.gguf$/i, "");
  const aliases = [...new Set([...e.alias, ...(catalogModel?.aliases ?? [])])].filter((a) => a !== id);
  let drafter: string | null = null;
  if (!draft) {
    // said once for all by the caller
  } else if (e.drafter === false) {
    log(isFirst ? "no drafter (--no-drafter): only the context copy drafts" : `no drafter for ${id} (=none): only the context copy drafts`);
  } else if (e.drafter !== null) {
    drafter = resolveDrafter(e.drafter);
  } else {
    drafter = catalogModel ? shippedDrafter(catalogModel) : shippedDrafterFor(path!);
    if (!drafter) log(`no drafter for ${path ?? id} (pass ${isFirst ? "--drafter PATH" : `${e.model}=DRAFTER`}): serving ${isFirst ? "" : `${id} `}without speculative decoding`);
  }
  return { id, aliases, drafter, file };
}
