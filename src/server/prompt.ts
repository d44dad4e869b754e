// prompt.ts - request to prompt tokens: chat messages through the model's Jinja template,
// legacy prompts (text or token ids) through the tokenizer; and the completion budget.
//
// Context policy (as OpenAI and vLLM do): a prompt that leaves no room in the context, or an
// explicit max_tokens that does not fit beside the prompt, is a 400 context_length_exceeded.
// Without max_tokens a completion may use the rest of the context and ends with "length".
import { renderChat, stripLeadingBos } from "../engine/chat-template.ts";
import type { Engine } from "../engine/engine.ts";
import { ApiError } from "./errors.ts";
import type { ChatMessage } from "./schemas.ts";

function contentText(m: ChatMessage): string {
  if (m.content === null || m.content === undefined) return "";
  return typeof m.content === "string" ? m.content : m.content.map((p) => p.text).join("");
}

export function chatPrompt(engine: Engine, messages: readonly ChatMessage[]): number[] {
  const info = engine.info;
  // templates know system/user/assistant; "developer" is OpenAI's newer name for system
  const msgs = messages.map((m) => ({
    role: m.role === "developer" ? "system" : m.role,
    content: contentText(m),
    ...(m.name ? { name: m.name } : {}),
  }));
  let text: string;
  try {
    text = renderChat(info.chatTemplate, msgs, { bos_token: info.bosToken, eos_token: info.eosToken, add_generation_prompt: true });
  } catch (e) {
    throw ApiError.invalid(`The model's chat template rejected the messages: ${(e as Error).message}`, "messages");
  }
  return engine.tokenize(stripLeadingBos(text, info.bosToken, info.addBos), { addSpecial: true, parseSpecial: true });
}

/** A legacy prompt: text (special tokens parsed, as llama.cpp does) or token ids. */
export function completionPrompt(engine: Engine, prompt: string | number[], param: string): number[] {
  if (typeof prompt === "string") return engine.tokenize(prompt, { addSpecial: true, parseSpecial: true });
  const bad = prompt.find((t) => t >= engine.info.nVocab);
  if (bad !== undefined) throw ApiError.invalid(`Invalid '${param}': token id ${bad} is out of the vocabulary (0..${engine.info.nVocab - 1})`, param);
  return prompt;
}

/** Tokens the completion may generate; throws the 400 of the policy above. */
export function completionBudget(promptTokens: number, requested: number | null | undefined, nCtx: number, promptParam: string): number {
  if (promptTokens >= nCtx) {
    throw new ApiError(400,
      `This model's maximum context length is ${nCtx} tokens. However, your prompt is ${promptTokens} tokens, leaving no room for a completion. Please shorten the prompt.`,
      "invalid_request_error", "context_length_exceeded", promptParam);
  }
  if (requested === null || requested === undefined) return nCtx - promptTokens;
  if (promptTokens + requested > nCtx) {
    throw new ApiError(400,
      `This model's maximum context length is ${nCtx} tokens. However, you requested ${promptTokens + requested} tokens (${promptTokens} in the prompt, ${requested} in the completion). Please reduce the prompt or max_tokens.`,
      "invalid_request_error", "context_length_exceeded", "max_tokens");
  }
  return requested;
}
