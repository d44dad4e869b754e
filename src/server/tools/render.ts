// tools/render.ts - what the chat template gets for a request with tools: the `tools` variable
// and the messages' tool-call history, as Hugging Face transformers passes them (assistant
// `tool_calls` with `arguments` as an object, `role: "tool"` messages with `tool_call_id`), or,
// for a template that knows no tools, the fallback: the tools described in the system prompt
// and the history written out as text in the format the parser reads (tools/format.ts).
import type { ToolFormat } from "./format.ts";
import type { Tool, ToolCall } from "./schema.ts";

/** A message as the template sees it (content already text). */
export interface TemplateMessage {
  role: string;
  content: string;
  name?: string;
  tool_calls?: ToolCall[] | null;
  tool_call_id?: string;
}

export interface ToolPrompt {
  format: ToolFormat;
  tools: Tool[];
  /** The tools are shown to the model (tool_choice is not "none"). */
  offer: boolean;
}

/** A message as the template gets it. */
export type RenderedMessage = { role: string; content: string; [key: string]: unknown };

export interface TemplateInput {
  messages: RenderedMessage[];
  vars: Record<string, unknown>; // extra template variables
  bytes: number; // bytes of what is rendered beside the messages' content, for the prompt limit
}

const utf8Length = (s: string) => Buffer.byteLength(s, "utf8");

/** Arguments as the templates expect them (transformers: a dict; `| tojson` writes it back);
 *  text that is not a JSON object stays text. */
function argumentsValue(text: string): unknown {
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === "object" && v !== null && !Array.isArray(v) ? v : text;
  } catch {
    return text;
  }
}

const BASE62 = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

/** Mistral's templates refuse tool-call ids other than 9 alphanumerics: a stable 9-character
 *  stand-in for any id, the same for the call and its result. */
export function mistralId(id: string): string {
  let h = 0xcbf29ce484222325n; // FNV-1a, 64 bits
  for (const b of Buffer.from(id, "utf8")) h = ((h ^ BigInt(b)) * 0x100000001b3n) & 0xffffffffffffffffn;
  let out = "";
  for (let i = 0; i < 9; i++, h /= 62n) out += BASE62[Number(h % 62n)];
  return out;
}

/** JSON as Python's json.dumps writes it (", " and ": "), as templates' `tojson` does and as
 *  models saw it in training. */
export function dumps(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(dumps).join(", ")}]`;
  if (typeof v === "object" && v !== null) return `{${Object.entries(v).map(([k, x]) => `${JSON.stringify(k)}: ${dumps(x)}`).join(", ")}}`;
  return JSON.stringify(v) ?? "null";
}

/** One call in the text the parser reads and the fallback prompt asks for. */
export function hermesCall(name: string, args: unknown): string {
  return `<tool_call>\n${dumps({ name, arguments: args })}\n</tool_call>`;
}

/** A tool as the model is shown it. `strict` is an instruction to the API (the arguments must
 *  match the schema, which the grammar of a required or named call ensures), not part of a tool
 *  as models saw tools in training: rendered, it changes their answers (Qwen2.5-Coder-0.5B,
 *  asked for Paris's weather with `strict: true` in the tool, writes a markdown JSON block instead
 *  of its <tool_call>). */
export function modelTool(t: Tool): Tool {
  const { strict: _, ...fn } = t.function;
  return { type: "function", function: fn };
}

/** The system-prompt text that describes the tools to a template without tool support. */
export function fallbackToolPrompt(tools: readonly Tool[]): string {
  return "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n" +
    "You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n" +
    tools.map((t) => dumps(modelTool(t))).join("\n") +
    "\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n" +
    '<tool_call>\n{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call>';
}

function nativeInput(msgs: readonly TemplateMessage[], p: ToolPrompt): TemplateInput {
  const id = p.format.name === "mistral" ? mistralId : (s: string) => s;
  let bytes = 0;
  const messages = msgs.map((m) => {
    const out: RenderedMessage = { ...m };
    if (m.tool_calls?.length) {
      bytes += utf8Length(JSON.stringify(m.tool_calls));
      out.tool_calls = m.tool_calls.map((c) => ({
        id: id(c.id), type: "function", function: { name: c.function.name, arguments: argumentsValue(c.function.arguments) },
      }));
    } else {
      delete out.tool_calls;
    }
    if (m.tool_call_id !== undefined) out.tool_call_id = id(m.tool_call_id);
    return out;
  });
  if (!p.offer) return { messages, vars: {}, bytes };
  const tools = p.tools.map(modelTool);
  return { messages, vars: { tools }, bytes: bytes + utf8Length(JSON.stringify(tools)) };
}

function fallbackInput(msgs: readonly TemplateMessage[], p: ToolPrompt): TemplateInput {
  const messages: (RenderedMessage & { toolResults?: true })[] = [];
  let bytes = 0; // what the fallback writes beyond the messages' content
  for (const m of msgs) {
    const { tool_calls, tool_call_id, ...rest } = m;
    if (m.role === "tool") {
      const response = `<tool_response>\n${m.content}\n</tool_response>`;
      bytes += 32;
      const last = messages.at(-1);
      // results of one round of calls are one user turn, as Qwen's template writes them
      if (last?.role === "user" && last.toolResults) last.content += `\n${response}`;
      else messages.push({ role: "user", content: response, toolResults: true });
      continue;
    }
    const calls = (tool_calls ?? []).map((c) => hermesCall(c.function.name, argumentsValue(c.function.arguments)));
    for (const c of calls) bytes += utf8Length(c) + 1;
    messages.push(calls.length ? { ...rest, content: [rest.content, ...calls].filter((s) => s).join("\n") } : rest);
  }
  for (const m of messages) delete m.toolResults;
  if (p.offer && p.tools.length) {
    const text = fallbackToolPrompt(p.tools);
    bytes += utf8Length(text) + 2;
    if (messages[0]?.role === "system") messages[0] = { ...messages[0], content: `${messages[0].content}\n\n${text}` };
    else messages.unshift({ role: "system", content: text });
  }
  return { messages, vars: {}, bytes };
}

/** The template's input for a request's messages and tools. */
export function toolTemplateInput(msgs: readonly TemplateMessage[], p: ToolPrompt): TemplateInput {
  return p.format.native ? nativeInput(msgs, p) : fallbackInput(msgs, p);
}
