// tools/format.ts - which tool-call format a chat template speaks, read from the template's
// source as llama.cpp's chat handlers do: the markers that the model was trained to write.
//
//   hermes    <tool_call>\n{"name": "f", "arguments": {...}}\n</tool_call>   (Qwen 2.5, Hermes)
//   llama3    {"name": "f", "parameters": {...}}                            (Llama 3.1-3.3 JSON)
//   mistral   [TOOL_CALLS][{"name": "f", "arguments": {...}}]               (Mistral v3 and later)
//   fallback  a template that does not know tools: the server describes them in the system
//             prompt and asks for the hermes format, which it then parses the same way.

export type ToolFormatName = "hermes" | "llama3" | "mistral" | "fallback";

export interface ToolFormat {
  name: ToolFormatName;
  /** The template renders `tools` and tool-call history itself. */
  native: boolean;
  /** Text that opens a tool call anywhere in the output. */
  open: string;
  /** Text that closes one call ("" when the call's JSON ends it). */
  close: string;
  /** A call may start the output without `open` (the marker is a control token, which renders as
   *  no text; small models, Qwen2.5-Coder 0.5B among them, leave the tags out): the character that
   *  starts it there, "{" or "[" (a list of calls). Such a call must name a known function. */
  bare: "{" | "[" | null;
  /** The key of the arguments in a call object. */
  argsKey: "arguments" | "parameters";
}

const FORMATS: Record<ToolFormatName, Omit<ToolFormat, "native">> = {
  hermes: { name: "hermes", open: "<tool_call>", close: "</tool_call>", bare: "{", argsKey: "arguments" },
  llama3: { name: "llama3", open: "<|python_tag|>", close: "", bare: "{", argsKey: "parameters" },
  mistral: { name: "mistral", open: "[TOOL_CALLS]", close: "", bare: "[", argsKey: "arguments" },
  fallback: { name: "fallback", open: "<tool_call>", close: "</tool_call>", bare: "{", argsKey: "arguments" },
};

/** The format of a template's source (null: the server's ChatML fallback, which has no tools).
 *  A template that renders `tools` in a way not listed above gets the hermes parser. */
export function toolFormat(template: string | null): ToolFormat {
  const src = template ?? "";
  if (!/\btools\b/.test(src)) return { ...FORMATS.fallback, native: false };
  const name: ToolFormatName = src.includes("[TOOL_CALLS]") ? "mistral"
    : src.includes("<tool_call>") ? "hermes"
    : src.includes("<|start_header_id|>") ? "llama3"
    : "hermes";
  return { ...FORMATS[name], native: true };
}
