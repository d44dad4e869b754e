// render.test.ts - tools and tool-call history through chat templates: Qwen 2.5's own template
// (tests/fixtures/templates/qwen2.5.jinja, from the GGUF) gets `tools` and the history as
// transformers passes them and writes them in its format; a template without tools gets the
// fallback (tools in the system prompt, history as text); Mistral's 9-character ids.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { renderChat } from "../../../src/engine/chat-template.ts";
import { toolFormat } from "../../../src/server/tools/format.ts";
import { fallbackToolPrompt, mistralId, toolTemplateInput, type TemplateMessage, type ToolPrompt } from "../../../src/server/tools/render.ts";
import type { Tool } from "../../../src/server/tools/schema.ts";

const QWEN = readFileSync(join(import.meta.dirname, "../../fixtures/templates/qwen2.5.jinja"), "utf8");
const CHATML = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}<|im_start|>assistant\n";

const weather: Tool = {
  type: "function",
  function: {
    name: "get_weather",
    description: "Current weather in a city",
    parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
  },
};

const history: TemplateMessage[] = [
  { role: "user", content: "Weather in Paris and Oslo?" },
  {
    role: "assistant", content: "",
    tool_calls: [
      { id: "call_1", type: "function", function: { name: "get_weather", arguments: '{"city": "Paris"}' } },
      { id: "call_2", type: "function", function: { name: "get_weather", arguments: '{"city": "Oslo"}' } },
    ],
  },
  { role: "tool", content: '{"temp": 21}', tool_call_id: "call_1" },
  { role: "tool", content: '{"temp": 9}', tool_call_id: "call_2" },
];

function render(template: string, msgs: TemplateMessage[], p: ToolPrompt): string {
  const input = toolTemplateInput(msgs, p);
  return renderChat(template, input.messages as never, { bos_token: "", eos_token: "", add_generation_prompt: true, ...input.vars });
}

describe("tool prompts", () => {
  it("Qwen 2.5: tools in its system block, calls and results in its own format", () => {
    const text = render(QWEN, history, { format: toolFormat(QWEN), tools: [weather], offer: true });
    expect(text).toBe(
      "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.\n\n# Tools\n\n" +
      "You may call one or more functions to assist with the user query.\n\n" +
      "You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n" +
      '{"type": "function", "function": {"name": "get_weather", "description": "Current weather in a city", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}\n' +
      "</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n" +
      '<tool_call>\n{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call><|im_end|>\n' +
      "<|im_start|>user\nWeather in Paris and Oslo?<|im_end|>\n" +
      '<|im_start|>assistant\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>\n' +
      '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Oslo"}}\n</tool_call><|im_end|>\n' +
      '<|im_start|>user\n<tool_response>\n{"temp": 21}\n</tool_response>\n<tool_response>\n{"temp": 9}\n</tool_response><|im_end|>\n' +
      "<|im_start|>assistant\n");
  });

  it("`strict` is not shown to the model, natively or in the fallback prompt", () => {
    const strict: Tool = { ...weather, function: { ...weather.function, strict: true } };
    const plain = render(QWEN, history, { format: toolFormat(QWEN), tools: [weather], offer: true });
    expect(render(QWEN, history, { format: toolFormat(QWEN), tools: [strict], offer: true })).toBe(plain);
    expect(fallbackToolPrompt([strict])).toBe(fallbackToolPrompt([weather]));
    expect(fallbackToolPrompt([strict])).not.toContain("strict");
  });

  it("tool_choice none: the tools are not shown, the history still is", () => {
    const text = render(QWEN, history, { format: toolFormat(QWEN), tools: [weather], offer: false });
    expect(text).not.toContain("# Tools");
    expect(text).toContain('<tool_call>\n{"name": "get_weather", "arguments": {"city": "Oslo"}}\n</tool_call>');
  });

  it("a template without tools: the fallback system prompt, history as hermes text", () => {
    const format = toolFormat(CHATML);
    expect(format.name).toBe("fallback");
    const text = render(CHATML, [{ role: "system", content: "Be brief." }, ...history], { format, tools: [weather], offer: true });
    expect(text).toBe(
      `<|im_start|>system\nBe brief.\n\n${fallbackToolPrompt([weather])}<|im_end|>\n` +
      "<|im_start|>user\nWeather in Paris and Oslo?<|im_end|>\n" +
      '<|im_start|>assistant\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>\n' +
      '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Oslo"}}\n</tool_call><|im_end|>\n' +
      '<|im_start|>user\n<tool_response>\n{"temp": 21}\n</tool_response>\n<tool_response>\n{"temp": 9}\n</tool_response><|im_end|>\n' +
      "<|im_start|>assistant"); // Jinja drops the template's final newline
    // without a system message, one is added first
    const bare = render(CHATML, history.slice(0, 1), { format, tools: [weather], offer: true });
    expect(bare.startsWith(`<|im_start|>system\n${fallbackToolPrompt([weather])}<|im_end|>\n<|im_start|>user\n`)).toBe(true);
  });

  it("arguments that are not a JSON object stay text", () => {
    const input = toolTemplateInput([{
      role: "assistant", content: "", tool_calls: [{ id: "c", type: "function", function: { name: "f", arguments: "not json" } }],
    }], { format: toolFormat(QWEN), tools: [], offer: false });
    expect((input.messages[0]!.tool_calls as { function: { arguments: unknown } }[])[0]!.function.arguments).toBe("not json");
  });

  it("Mistral: ids become 9 alphanumerics, the same for a call and its result", () => {
    const format = toolFormat("{% if tools %}[AVAILABLE_TOOLS]{% endif %}[TOOL_CALLS]");
    const input = toolTemplateInput(history, { format, tools: [weather], offer: true });
    const calls = input.messages[1]!.tool_calls as { id: string }[];
    expect(calls[0]!.id).toMatch(/^[A-Za-z0-9]{9}$/);
    expect(calls[0]!.id).not.toBe(calls[1]!.id);
    expect(input.messages[2]!.tool_call_id).toBe(calls[0]!.id);
    expect(mistralId("call_1")).toBe(calls[0]!.id);
    expect(input.vars.tools).toEqual([weather]);
    expect(input.bytes).toBeGreaterThan(JSON.stringify([weather]).length);
  });
});
