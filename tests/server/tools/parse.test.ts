// parse.test.ts - model output to content and tool calls, per format: whole, and streamed in
// every split into two and three pieces and one character at a time (the events must fold into
// the same message, with a call's name before its arguments).
import { describe, expect, it } from "vitest";
import { toolFormat, type ToolFormat } from "../../../src/server/tools/format.ts";
import { collectToolEvents, newCallId, ToolCallParser, type ToolEvent } from "../../../src/server/tools/parse.ts";

const HERMES = toolFormat("{% if tools %}<tool_call>{% endif %}");
const LLAMA3 = toolFormat("<|start_header_id|>{% if tools %}{% endif %}");
const MISTRAL = toolFormat("{% if tools %}[AVAILABLE_TOOLS][TOOL_CALLS]{% endif %}");
const FALLBACK = toolFormat("{{ messages }}");

function ids() {
  let n = 0;
  return () => `call_${n++}`;
}

const NAMES = new Set(["get_weather", "a", "b", "f"]);

function parse(format: ToolFormat, pieces: readonly string[], parallel = true): ToolEvent[] {
  const p = new ToolCallParser(format, { parallel, names: NAMES, newId: ids() });
  return [...pieces.flatMap((t) => p.push(t)), ...p.finish()];
}

/** Every way to cut text into 2 and 3 pieces, and one character per piece. */
function* splits(text: string): Generator<string[]> {
  yield [text];
  yield [...text];
  for (let i = 0; i <= text.length; i++) {
    yield [text.slice(0, i), text.slice(i)];
    for (let j = i; j <= text.length; j += 3) yield [text.slice(0, i), text.slice(i, j), text.slice(j)];
  }
}

/** The message from the whole text, after checking that every split gives it too. */
function message(format: ToolFormat, text: string, parallel = true) {
  const whole = collectToolEvents(parse(format, [text], parallel));
  for (const pieces of splits(text)) {
    const events = parse(format, pieces, parallel);
    expect(collectToolEvents(events), JSON.stringify(pieces)).toEqual(whole);
    const named = new Set<number>();
    for (const e of events) {
      if (e.kind === "call") named.add(e.index);
      if (e.kind === "arguments") expect(named.has(e.index)).toBe(true); // the name came first
    }
  }
  return whole;
}

const call = (id: string, name: string, args: string) => ({ id, type: "function", function: { name, arguments: args } });

describe("tool-call parser", () => {
  it("hermes: one call, no content", () => {
    const m = message(HERMES, '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris", "unit": "c"}}\n</tool_call>');
    expect(m).toEqual({ content: null, tool_calls: [call("call_0", "get_weather", '{"city": "Paris", "unit": "c"}')] });
  });

  it("hermes: text before the call stays content; parallel calls; whitespace between dropped", () => {
    const text = 'Let me check.\n<tool_call>\n{"name": "a", "arguments": {"x": [1, {"y": "}"}]}}\n</tool_call>\n' +
      '<tool_call>\n{"name": "b", "arguments": {}}\n</tool_call>\n';
    const m = message(HERMES, text);
    expect(m.content).toBe("Let me check.");
    expect(m.tool_calls).toEqual([call("call_0", "a", '{"x": [1, {"y": "}"}]}'), call("call_1", "b", "{}")]);
  });

  it("parallel_tool_calls false keeps the first call", () => {
    const text = '<tool_call>{"name": "a", "arguments": {"n": 1}}</tool_call><tool_call>{"name": "b", "arguments": {}}</tool_call>';
    expect(message(HERMES, text, false).tool_calls).toEqual([call("call_0", "a", '{"n": 1}')]);
  });

  it("hermes: a call without the tags (Qwen2.5-Coder 0.5B writes them so) must name a tool", () => {
    expect(message(HERMES, '\n{"name": "get_weather", "arguments": {"city": "Paris"}}')).toEqual({
      content: null, tool_calls: [call("call_0", "get_weather", '{"city": "Paris"}')],
    });
    // and after a tagged one, as the same model goes on
    expect(message(HERMES, '<tool_call>\n{"name": "a", "arguments": {}}\n</tool_call>\n{"name": "b", "arguments": {"k": 1}}\n{"name').tool_calls)
      .toEqual([call("call_0", "a", "{}"), call("call_1", "b", '{"k": 1}')]);
    for (const text of ['{"name": "Ann", "age": 3}', '{"age": 3, "name": "get_weather"}']) {
      expect(message(HERMES, text)).toEqual({ content: text, tool_calls: [] });
    }
  });

  it("output without calls is content, exactly", () => {
    for (const text of ["Hello, world!\n\n", "  <tool  call> <tool_cal", "a < b and {\"name\": 1}\n", "", " \n", "{}", "{\"x\": [1, 2]} tail"]) {
      for (const f of [HERMES, FALLBACK]) expect(message(f, text)).toEqual({ content: text, tool_calls: [] });
    }
  });

  it("a marker followed by something else, or an object without a name, is content", () => {
    for (const text of ["<tool_call>not json", '<tool_call>\n{"arguments": {}}\n</tool_call>', '<tool_call>{"name": 3}</tool_call>']) {
      expect(message(HERMES, text)).toEqual({ content: text, tool_calls: [] });
    }
  });

  it("arguments given as a JSON string are decoded; key order does not matter; no arguments = {}", () => {
    const text = '<tool_call>{"arguments": "{\\"q\\": \\"x\\"}", "name": "s"}</tool_call><tool_call>{"name": "t"}</tool_call>';
    expect(message(HERMES, text).tool_calls).toEqual([call("call_0", "s", '{"q": "x"}'), call("call_1", "t", "{}")]);
  });

  it("strings with escapes, braces and markers inside the arguments", () => {
    const args = '{"code": "if (a) { b(\\"}\\") } </tool_call>", "n": -1.5e3, "ok": true, "none": null}';
    const m = message(HERMES, `<tool_call>\n{"name": "run", "arguments": ${args}}\n</tool_call>`);
    expect(m.tool_calls).toEqual([call("call_0", "run", args)]);
    expect(JSON.parse(m.tool_calls[0]!.function.arguments).code).toBe('if (a) { b("}") } </tool_call>');
  });

  it("a call cut short (length) keeps its name and what it streamed", () => {
    const m = message(HERMES, '<tool_call>\n{"name": "f", "arguments": {"a": "hel');
    expect(m.tool_calls).toEqual([call("call_0", "f", '{"a": "hel')]);
  });

  it("arguments stream as they are written", () => {
    const p = new ToolCallParser(HERMES, { parallel: true, names: NAMES, newId: ids() });
    expect(p.push('<tool_call>\n{"name": "f", "arguments": {"a"')).toEqual([
      { kind: "call", index: 0, id: "call_0", name: "f" }, { kind: "arguments", index: 0, text: '{"a"' },
    ]);
    expect(p.push(': 1}')).toEqual([{ kind: "arguments", index: 0, text: ": 1}" }]);
    expect(p.push("}\n</tool_call>")).toEqual([]);
    expect(p.finish()).toEqual([]);
    expect(p.calls).toBe(1);
  });

  it("content streams without waiting, except a tail that may open a call", () => {
    const p = new ToolCallParser(HERMES, { parallel: true });
    expect(p.push("Hi there <tool")).toEqual([{ kind: "content", text: "Hi there" }]);
    expect(p.push("box> ok")).toEqual([{ kind: "content", text: " <toolbox> ok" }]);
  });

  it("llama3: a bare JSON call, several separated by ';', parameters as the arguments", () => {
    const m = message(LLAMA3, '{"name": "get_weather", "parameters": {"city": "Oslo"}}; {"type": "function", "name": "b", "parameters": {}}');
    expect(m).toEqual({ content: null, tool_calls: [call("call_0", "get_weather", '{"city": "Oslo"}'), call("call_1", "b", "{}")] });
  });

  it("llama3: a JSON answer that is not a call is content", () => {
    for (const text of ['{"answer": 42}', '  {"city": "Oslo", "name": "x"}', "The JSON is {\"name\": \"f\"}"]) {
      expect(message(LLAMA3, text)).toEqual({ content: text, tool_calls: [] });
    }
  });

  it("mistral: [TOOL_CALLS] with a list, with or without the marker's text", () => {
    const list = '[{"name": "a", "arguments": {"k": "v"}, "id": "abcdefghi"}, {"name": "b", "arguments": {}}]';
    const want = { content: null, tool_calls: [call("call_0", "a", '{"k": "v"}'), call("call_1", "b", "{}")] };
    expect(message(MISTRAL, `[TOOL_CALLS]${list}`)).toEqual(want);
    expect(message(MISTRAL, list)).toEqual(want); // the marker is a control token: no text
    expect(message(MISTRAL, "[1, 2, 3]")).toEqual({ content: "[1, 2, 3]", tool_calls: [] });
  });

  it("fallback parses the hermes format", () => {
    expect(message(FALLBACK, 'Sure.\n<tool_call>\n{"name": "f", "arguments": {"a": 1}}\n</tool_call>')).toEqual({
      content: "Sure.", tool_calls: [call("call_0", "f", '{"a": 1}')],
    });
  });

  it("ids look like OpenAI's", () => {
    expect(newCallId()).toMatch(/^call_[A-Za-z0-9]{24}$/);
    expect(newCallId()).not.toBe(newCallId());
  });
});

describe("tool format of a template", () => {
  it("reads the markers; no tools in the template = fallback", () => {
    expect([HERMES, LLAMA3, MISTRAL, FALLBACK].map((f) => [f.name, f.native])).toEqual([
      ["hermes", true], ["llama3", true], ["mistral", true], ["fallback", false],
    ]);
    expect(toolFormat(null).name).toBe("fallback");
  });
});
