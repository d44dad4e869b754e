// log-prompts.ts - --log-prompts: each request's prompt as the model sees it (the rendered chat
// template, control tokens included), one line per prompt on stderr, for debugging templates.
import type { Engine } from "../engine/engine.ts";
import type { ServerState } from "./state.ts";

export function logPrompts(state: ServerState, engine: Engine, requestId: string, prompts: readonly (readonly number[])[]): void {
  if (!state.config.logPrompts) return;
  for (const [i, tokens] of prompts.entries()) {
    const text = tokens.map((t) => engine.tokenText(t)).join("");
    const which = prompts.length > 1 ? `[${i}]` : "";
    console.error(`[prompt] ${requestId}${which} ${tokens.length} tokens: ${JSON.stringify(text)}`);
  }
}
