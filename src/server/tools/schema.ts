// tools/schema.ts - the request pieces of tool calling, spelled as OpenAI spells them: `tools`,
// `tool_choice`, `parallel_tool_calls`, an assistant message's `tool_calls` and a tool message's
// `tool_call_id`. Cross-field rules (a named choice must name a tool, ...) are checkToolRequest's.
import { z } from "zod";

/** OpenAI's own bounds: 128 tools, names of [a-zA-Z0-9_-]{1,64}. A parameters schema is bounded
 *  by the server's schema limits (tools/grammar.ts) and the prompt's byte limit. */
export const MAX_TOOLS = 128;
const functionName = z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/, "must be 1-64 characters of a-z, A-Z, 0-9, '_' and '-'");

export const tool = z.object({
  type: z.literal("function"),
  function: z.object({
    name: functionName,
    description: z.string().optional(),
    parameters: z.record(z.string(), z.unknown()).optional(),
    strict: z.boolean().nullish(),
  }),
});

export const toolChoice = z.union([
  z.enum(["none", "auto", "required"]),
  z.object({ type: z.literal("function"), function: z.object({ name: functionName }) }),
]);

export const toolCall = z.object({
  id: z.string().max(256),
  type: z.literal("function"),
  function: z.object({ name: z.string().max(256), arguments: z.string() }),
});

/** Fields of the chat request body. */
export const toolFields = {
  tools: z.array(tool).max(MAX_TOOLS).nullish(),
  tool_choice: toolChoice.nullish(),
  parallel_tool_calls: z.boolean().nullish(),
};

/** Fields of a message. */
export const toolMessageFields = {
  tool_calls: z.array(toolCall).max(MAX_TOOLS).nullish(), // assistant
  tool_call_id: z.string().max(256).optional(), // tool
};

export type Tool = z.infer<typeof tool>;
export type ToolChoice = z.infer<typeof toolChoice>;
export type ToolCall = z.infer<typeof toolCall>;

interface ToolRequest {
  tools?: Tool[] | null;
  tool_choice?: ToolChoice | null;
  messages: { role: string; tool_calls?: ToolCall[] | null; tool_call_id?: string }[];
}

/** The rules zod's shapes do not say; each issue is [message, path] as refine reports them. */
export function toolRequestIssues(r: ToolRequest): [string, (string | number)[]][] {
  const issues: [string, (string | number)[]][] = [];
  const tools = r.tools ?? [];
  const names = new Set<string>();
  tools.forEach((t, i) => {
    if (names.has(t.function.name)) issues.push([`duplicate function name '${t.function.name}'`, ["tools", i, "function", "name"]]);
    names.add(t.function.name);
  });
  const choice = r.tool_choice;
  if (choice && tools.length === 0 && choice !== "none") {
    issues.push(["tool_choice is only allowed when tools are specified", ["tool_choice"]]);
  } else if (typeof choice === "object" && choice !== null && !names.has(choice.function.name)) {
    issues.push([`tool_choice names function '${choice.function.name}', which is not in tools`, ["tool_choice", "function", "name"]]);
  }
  r.messages.forEach((m, i) => {
    if (m.role === "tool" && m.tool_call_id === undefined) issues.push(["a message with role 'tool' needs tool_call_id", ["messages", i, "tool_call_id"]]);
    if (m.role !== "assistant" && m.tool_calls?.length) issues.push(["only assistant messages may have tool_calls", ["messages", i, "tool_calls"]]);
  });
  return issues;
}
