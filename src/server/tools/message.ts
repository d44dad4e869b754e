// tools/message.ts - parser events in OpenAI's shapes: a streamed `delta` (content and
// `tool_calls` entries: index, id, type and name first, then `arguments` fragments), the whole
// `message`, and the finish reason ("tool_calls" when a call ended the output).
import { collectToolEvents, type ParsedToolCall, type ToolCallParser, type ToolEvent } from "./parse.ts";

interface DeltaCall {
  index: number;
  id?: string;
  type?: "function";
  function: { name?: string; arguments: string };
}

/** One chunk's delta from the events of one push (or finish). */
export function toolDelta(events: readonly ToolEvent[]): { content?: string; tool_calls?: DeltaCall[] } {
  let content = "";
  const calls: DeltaCall[] = [];
  for (const e of events) {
    if (e.kind === "content") content += e.text;
    else if (e.kind === "call") calls.push({ index: e.index, id: e.id, type: "function", function: { name: e.name, arguments: "" } });
    else {
      const last = calls.at(-1);
      if (last?.index === e.index) last.function.arguments += e.text;
      else calls.push({ index: e.index, function: { arguments: e.text } });
    }
  }
  return { ...(content ? { content } : {}), ...(calls.length ? { tool_calls: calls } : {}) };
}

/** The message of a whole output: tool_calls only when there are some (content then null if
 *  empty). */
export function toolMessage(parser: ToolCallParser, text: string): { content: string | null; tool_calls?: ParsedToolCall[] } {
  const { content, tool_calls } = collectToolEvents([...parser.push(text), ...parser.finish()]);
  return tool_calls.length ? { content, tool_calls } : { content };
}

/** "tool_calls" when the output stopped after a call; "length" (a cut call) and others stay. */
export function toolFinishReason<F extends string>(finish: F, parser: ToolCallParser): F | "tool_calls" {
  return finish === "stop" && parser.calls > 0 ? "tool_calls" : finish;
}
