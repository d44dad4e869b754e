// prompts.ts - prompt files and prompt tokens for the commands and benches: the one JSONL reader
// ({"prompt": ..., "id"?: ..., "category"?: ...} per line), the even spread bench and distill
// sample with, and a prompt's tokens as text or through the model's chat template.
import { readFileSync } from "node:fs";
import { chatPromptText } from "../engine/chat-template.ts";
import type { Engine } from "../engine/engine.ts";
import { UsageError } from "./args.ts";

export interface Prompt {
  id: string; // the line's "id", else line-N
  prompt: string;
  category: string; // the line's "category", else "all"
}

/** The prompts of a JSONL file; a malformed line, a missing or empty prompt and a file without
 *  prompts are UsageErrors naming the file (and line). */
export function readPrompts(path: string): Prompt[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new UsageError(`cannot read prompt file ${path}: ${(e as NodeJS.ErrnoException).code ?? e}`);
  }
  const out: Prompt[] = [];
  for (const [i, line] of text.split("\n").entries()) {
    if (!line.trim()) continue;
    let obj: { id?: unknown; prompt?: unknown; category?: unknown } | null;
    try {
      obj = JSON.parse(line);
    } catch {
      throw new UsageError(`${path}:${i + 1}: not a JSON object`);
    }
    const prompt = obj?.prompt;
    if (typeof prompt !== "string" || !prompt) throw new UsageError(`${path}:${i + 1}: no non-empty "prompt" string field`);
    out.push({ id: obj!.id === undefined ? `line-${i + 1}` : String(obj!.id), prompt, category: String(obj!.category ?? "all") });
  }
  if (out.length === 0) throw new UsageError(`prompt file ${path} holds no prompt`);
  return out;
}

/** k items at an even stride over all of them (all when k >= their count): prompt files are
 *  grouped by category (chat, code, math), so the first k would measure one kind only. */
export function spread<T>(items: readonly T[], k: number): T[] {
  const n = Math.min(k, items.length);
  return Array.from({ length: n }, (_, i) => items[Math.floor((i * items.length) / n)]!);
}

/** A prompt's tokens: as one user turn through the chat template (special tokens parsed), or as
 *  plain text. */
export function promptTokens(engine: Engine, text: string, chat: boolean): number[] {
  const prompt = chat ? chatPromptText(engine.info, [{ role: "user", content: text }]) : text;
  return engine.tokenize(prompt, { addSpecial: true, parseSpecial: chat });
}
