// tools/plan.ts - what a chat request's tool fields mean for its generation: what the template
// gets (tools/render.ts), the grammar that enforces `required` or a named function
// (tools/grammar.ts), and whether the output is parsed for calls (tools/parse.ts).
//
// tool_choice: "auto" (the default with tools) shows the tools and parses the output, the model
// free to answer or call; "required" and a named function add the grammar; "none" neither shows
// the tools nor parses (tool-call history is still rendered). parallel_tool_calls: false keeps
// the first call (and the grammar allows one).
import { ApiError } from "../errors.ts";
import { SchemaError, SchemaLimitError, type SchemaLimits } from "../json-grammar.ts";
import { toolFormat } from "./format.ts";
import { toolCallGrammar } from "./grammar.ts";
import { ToolCallParser } from "./parse.ts";
import type { ToolPrompt } from "./render.ts";
import type { Tool, ToolCall, ToolChoice } from "./schema.ts";

export interface ToolRequestFields {
  tools?: Tool[] | null;
  tool_choice?: ToolChoice | null;
  parallel_tool_calls?: boolean | null;
  response_format?: { type: string } | null;
  messages: readonly { tool_calls?: ToolCall[] | null; role: string }[];
}

export interface ToolPlan {
  prompt: ToolPrompt;
  /** GBNF for required / named choices, else null. */
  grammar: string | null;
  /** A parser per choice, or null when the output is plain content (tool_choice "none"). */
  parser: (() => ToolCallParser) | null;
}

/** The plan for a request, or null for one without tools or tool-call history (nothing changes).
 *  template: the model's chat template source (null: the server's fallback). Throws ApiError. */
export function toolPlan(req: ToolRequestFields, template: string | null, limits: SchemaLimits): ToolPlan | null {
  const tools = req.tools ?? [];
  const history = req.messages.some((m) => m.role === "tool" || m.tool_calls?.length);
  if (tools.length === 0 && !history) return null;
  const format = toolFormat(template);
  const choice = req.tool_choice ?? (tools.length ? "auto" : "none");
  const parallel = req.parallel_tool_calls ?? true;
  const prompt: ToolPrompt = { format, tools, offer: choice !== "none" };
  if (choice === "none") return { prompt, grammar: null, parser: null };
  const names = new Set(tools.map((t) => t.function.name));
  const parser = () => new ToolCallParser(format, { parallel, names });
  if (choice === "auto") return { prompt, grammar: null, parser };
  if (req.response_format && req.response_format.type !== "text") {
    throw ApiError.invalid("response_format cannot be combined with a tool_choice that forces a call", "tool_choice");
  }
  const allowed = choice === "required" ? tools : tools.filter((t) => t.function.name === choice.function.name);
  try {
    // a named function is called once; "required" may call several
    return { prompt, grammar: toolCallGrammar(format, allowed, parallel && choice === "required", limits), parser };
  } catch (e) {
    if (e instanceof SchemaLimitError) throw ApiError.invalid(`Invalid 'tools': ${e.message}`, "tools", e.code);
    if (e instanceof SchemaError) throw ApiError.invalid(`Invalid 'tools': a function's parameters: ${e.message}`, "tools");
    throw e;
  }
}
