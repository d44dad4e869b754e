// prompt.ts - request to prompt tokens: chat messages through the model's Jinja template,
// legacy prompts (text or token ids) through the tokenizer; and the completion budget.
//
// Context policy (as OpenAI and vLLM do): a prompt that leaves no room in the context, or an
// explicit max_tokens that does not fit beside the prompt, is a 400 context_length_exceeded.
// Without max_tokens a completion may use the rest of the context and ends with "length".
//
// The template and the tokenizer run on the HTTP thread (Gemma's tokenizer: about 40 ms per
// 64 KiB, more than linear beyond), so prompt text is measured in bytes first and one over
// --max-prompt-bytes is refused untouched; and each render or tokenization gets an event-loop
// turn of its own (inTurn, which the routes also use for the response_format grammar), one at a
// time across all requests, so /health waits for one piece of work at most.
import { SETTINGS } from "../config.ts";
import { chatPromptText } from "../engine/chat-template.ts";
import type { Engine } from "../engine/engine.ts";
import { ApiError } from "./errors.ts";
import type { ChatMessage } from "./schemas.ts";
import { toolTemplateInput, type ToolPrompt } from "./tools/render.ts";

function contentText(m: ChatMessage): string {
  if (m.content === null || m.content === undefined) return "";
  return typeof m.content === "string" ? m.content : m.content.map((p) => p.text).join("");
}

const utf8Length = (s: string) => Buffer.byteLength(s, "utf8");

let lastTurn: Promise<unknown> = Promise.resolve();

/** work() in an event-loop turn of its own, after every piece of work queued before it. */
export function inTurn<T>(work: () => T): Promise<T> {
  const turn = lastTurn.then(() => new Promise<T>((resolve, reject) => setImmediate(() => {
    try {
      resolve(work());
    } catch (e) {
      reject(e);
    }
  })));
  lastTurn = turn.catch(() => undefined);
  return turn;
}

/** Prompt text the server tokenizes, bytes: maxPromptBytes, or 16 per token of context when 0. */
export function promptByteLimit(maxPromptBytes: number, nCtx: number): number {
  return maxPromptBytes > 0 ? maxPromptBytes : 16 * nCtx;
}

function contextExceeded(message: string, param: string): ApiError {
  return new ApiError(400, message, "invalid_request_error", "context_length_exceeded", param);
}

/** Throws context_length_exceeded when `bytes` of prompt text are over the byte limit. */
function checkPromptBytes(bytes: number, maxPromptBytes: number, nCtx: number, param: string): void {
  const limit = promptByteLimit(maxPromptBytes, nCtx);
  if (bytes <= limit) return;
  const setting = `--${SETTINGS.maxPromptBytes.flag} ${maxPromptBytes}${maxPromptBytes === 0 ? ": 16 bytes per token of context" : ""}`;
  throw contextExceeded(
    `This model's maximum context length is ${nCtx} tokens, and this server tokenizes at most ${limit} bytes of prompt text (${setting}). However, your prompt is ${bytes} bytes. Please shorten the prompt.`,
    param);
}

function checkPromptTokens(tokens: number, nCtx: number, param: string): void {
  if (tokens < nCtx) return;
  throw contextExceeded(
    `This model's maximum context length is ${nCtx} tokens. However, your prompt is ${tokens} tokens, leaving no room for a completion. Please shorten the prompt.`,
    param);
}

// Before the template runs, a message counts its role, name and content plus this much for the
// markers a template puts around a turn (ChatML 24 bytes, Gemma 30, Llama 3 48; a low estimate),
// so thousands of empty messages cannot make the template's work (microseconds each) large.
const TURN_BYTES = 8;

/** The chat's prompt tokens. The messages are measured before the template runs, and the
 *  rendered prompt before it is tokenized. tools: the request's tools and tool-call history
 *  (tools/plan.ts), null when it has neither. */
export async function chatPrompt(engine: Engine, messages: readonly ChatMessage[], maxPromptBytes: number, tools: ToolPrompt | null = null): Promise<number[]> {
  const info = engine.info;
  // templates know system/user/assistant; "developer" is OpenAI's newer name for system
  const msgs = messages.map((m) => ({
    role: m.role === "developer" ? "system" : m.role,
    content: contentText(m),
    ...(m.name ? { name: m.name } : {}),
    ...(m.tool_calls?.length ? { tool_calls: m.tool_calls } : {}),
    ...(m.tool_call_id !== undefined ? { tool_call_id: m.tool_call_id } : {}),
  }));
  const input = tools ? toolTemplateInput(msgs, tools) : { messages: msgs, vars: {}, bytes: 0 };
  const bytes = msgs.reduce((n, m) => n + TURN_BYTES + utf8Length(m.role) + utf8Length(m.content) + utf8Length(m.name ?? ""), input.bytes);
  checkPromptBytes(bytes, maxPromptBytes, info.nCtx, "messages");
  const prompt = await inTurn(() => {
    try {
      return chatPromptText(info, input.messages, input.vars);
    } catch (e) {
      throw ApiError.invalid(`The model's chat template rejected the messages: ${(e as Error).message}`, "messages");
    }
  });
  checkPromptBytes(utf8Length(prompt), maxPromptBytes, info.nCtx, "messages");
  return inTurn(() => engine.tokenize(prompt, { addSpecial: true, parseSpecial: true }));
}

/**
 * Legacy prompts, text (special tokens parsed, as llama.cpp does) or token ids, as tokens. Every
 * prompt is checked (text in bytes, ids by count, then vocabulary) before any is tokenized, and
 * each tokenized one against the context before the next.
 */
export async function completionPrompts(engine: Engine, prompts: readonly (string | number[])[], maxPromptBytes: number, addSpecial = true): Promise<number[][]> {
  const { nCtx, nVocab } = engine.info;
  const param = (i: number) => (prompts.length > 1 ? `prompt[${i}]` : "prompt");
  prompts.forEach((p, i) => {
    if (typeof p === "string") return checkPromptBytes(utf8Length(p), maxPromptBytes, nCtx, param(i));
    checkPromptTokens(p.length, nCtx, param(i));
    const bad = p.find((t) => t >= nVocab);
    if (bad !== undefined) throw ApiError.invalid(`Invalid '${param(i)}': token id ${bad} is out of the vocabulary (0..${nVocab - 1})`, param(i));
  });
  const out: number[][] = [];
  for (const [i, p] of prompts.entries()) {
    if (typeof p !== "string") {
      out.push(p);
      continue;
    }
    const tokens = await inTurn(() => engine.tokenize(p, { addSpecial, parseSpecial: true }));
    checkPromptTokens(tokens.length, nCtx, param(i)); // the first that overflows stops the rest
    out.push(tokens);
  }
  return out;
}

/**
 * Fill-in-the-middle prompts, in Qwen's order as llama.cpp's server builds them: [BOS] PRE prompt
 * SUF suffix MID, the model then writes the middle. A 400 naming `suffix` for a model without
 * FIM tokens.
 */
export async function fimPrompts(engine: Engine, prompts: readonly (string | number[])[], suffix: string, maxPromptBytes: number): Promise<number[][]> {
  const { fim, nCtx } = engine.info;
  if (!fim) throw ApiError.invalid("Invalid 'suffix': this model has no fill-in-the-middle tokens", "suffix");
  checkPromptBytes(utf8Length(suffix), maxPromptBytes, nCtx, "suffix");
  const after = await inTurn(() => engine.tokenize(suffix, { addSpecial: false, parseSpecial: true }));
  const bos = engine.tokenize("", { addSpecial: true }); // [BOS] when the model wants it
  const before = await completionPrompts(engine, prompts, maxPromptBytes, false);
  return before.map((p, i) => {
    const tokens = [...bos, fim.pre, ...p, fim.suf, ...after, fim.mid];
    checkPromptTokens(tokens.length, nCtx, prompts.length > 1 ? `prompt[${i}]` : "prompt");
    return tokens;
  });
}

/** Tokens the completion may generate; throws the 400 of the policy above. */
export function completionBudget(promptTokens: number, requested: number | null | undefined, nCtx: number, promptParam: string): number {
  checkPromptTokens(promptTokens, nCtx, promptParam);
  if (requested === null || requested === undefined) return nCtx - promptTokens;
  if (promptTokens + requested > nCtx) {
    throw contextExceeded(
      `This model's maximum context length is ${nCtx} tokens. However, you requested ${promptTokens + requested} tokens (${promptTokens} in the prompt, ${requested} in the completion). Please reduce the prompt or max_tokens.`,
      "max_tokens");
  }
  return requested;
}
