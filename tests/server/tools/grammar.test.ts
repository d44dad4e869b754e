// grammar.test.ts - the grammar of required / named tool choices (the calls' frame per format,
// each function's parameters converted as a document of its own, the schema limits counted over
// all tools together), and the plan a request's tool fields make. llama.cpp accepting the
// grammar and the output parsing are checked end to end in tools-sdk.test.ts.
import { describe, expect, it } from "vitest";
import { defaultConfig } from "../../../src/config.ts";
import { ApiError } from "../../../src/server/errors.ts";
import { SchemaLimitError } from "../../../src/server/json-grammar.ts";
import { toolFormat } from "../../../src/server/tools/format.ts";
import { toolCallGrammar } from "../../../src/server/tools/grammar.ts";
import { toolPlan } from "../../../src/server/tools/plan.ts";
import type { Tool } from "../../../src/server/tools/schema.ts";

const rules = (g: string) => Object.fromEntries(g.trim().split("\n").map((l) => l.split(" ::= ") as [string, string]));
const fn = (name: string, parameters?: Record<string, unknown>): Tool => ({ type: "function", function: { name, ...(parameters ? { parameters } : {}) } });

const HERMES = toolFormat("{% if tools %}<tool_call>{% endif %}");
const city = { type: "object", properties: { city: { type: "string" } }, required: ["city"] };

describe("tool-call grammar", () => {
  it("hermes: the call's frame, the name as a literal, the parameters' rule; parallel repeats the block", () => {
    const one = rules(toolCallGrammar(HERMES, [fn("get_weather", city)], false, defaultConfig));
    expect(one.root).toBe('"<tool_call>\\n" "{\\"name\\": \\"get_weather\\", \\"arguments\\": " fn-get-weather-object "}" "\\n</tool_call>"');
    expect(one["fn-get-weather-object"]).toBe('"{" ws fn-get-weather-city-kv ws "}"');
    expect(one["fn-get-weather-city-kv"]).toBe('"\\"city\\"" ws ":" ws string');
    const many = rules(toolCallGrammar(HERMES, [fn("a", city), fn("b")], true, defaultConfig));
    expect(many.root).toMatch(/^"<tool_call>\\n" \( .*"a\\", .* \| .*"b\\", .* \) "\\n<\/tool_call>" \( "\\n" "<tool_call>\\n" .* \)\*$/);
    expect(Object.values(many).join("\n")).toContain('"{" ws "}"'); // b takes no parameters: {}
  });

  it("llama3 and mistral frames", () => {
    const llama = rules(toolCallGrammar(toolFormat("<|start_header_id|>{{ tools }}"), [fn("f", city)], true, defaultConfig));
    expect(llama.root).toMatch(/^"\{\\"name\\": \\"f\\", \\"parameters\\": " .* \( "; " .* \)\*$/);
    const mistral = rules(toolCallGrammar(toolFormat("{{ tools }}[TOOL_CALLS]"), [fn("f", city)], false, defaultConfig));
    expect(mistral.root).toMatch(/^"\[TOOL_CALLS\]"\? "\[" .* "\]"$/);
  });

  it("each function's $defs are its own", () => {
    const def = (t: string) => ({ type: "object", properties: { v: { $ref: "#/$defs/x" } }, required: ["v"], $defs: { x: { type: t } } });
    const g = toolCallGrammar(HERMES, [fn("a", def("integer")), fn("b", def("boolean"))], false, defaultConfig);
    const bodies = Object.entries(rules(g)).filter(([k]) => k.startsWith("def-x")).map(([, v]) => v).sort();
    expect(bodies).toEqual(["boolean", "integer"]);
  });

  it("the schema limits hold for all the tools together", () => {
    const big = { type: "object", properties: Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`k${i}`, { type: "string" }])) };
    const limits = { ...defaultConfig, maxSchemaBytes: 1500 };
    expect(() => toolCallGrammar(HERMES, [fn("a", big)], false, limits)).not.toThrow();
    expect(() => toolCallGrammar(HERMES, [fn("a", big), fn("b", big)], false, limits)).toThrow(SchemaLimitError);
  });
});

describe("tool plan", () => {
  const messages = [{ role: "user" }];
  const plan = (req: object, template: string | null = null) => toolPlan({ messages, ...req }, template, defaultConfig);

  it("no tools and no history: nothing changes", () => {
    expect(plan({})).toBeNull();
    expect(plan({ tools: [] })).toBeNull();
  });

  it("auto parses without a grammar; none neither shows the tools nor parses; history alone renders", () => {
    const auto = plan({ tools: [fn("f", city)] })!;
    expect(auto.grammar).toBeNull();
    expect(auto.parser).not.toBeNull();
    expect(auto.prompt.offer).toBe(true);
    const none = plan({ tools: [fn("f", city)], tool_choice: "none" })!;
    expect([none.grammar, none.parser, none.prompt.offer]).toEqual([null, null, false]);
    const history = toolPlan({ messages: [{ role: "user" }, { role: "tool" }] }, null, defaultConfig)!;
    expect(history.prompt.offer).toBe(false);
  });

  it("required and named get a grammar: a named function alone, called once", () => {
    const tools = [fn("a", city), fn("b", city)];
    expect(plan({ tools, tool_choice: "required" })!.grammar).toContain('\\"b\\"');
    const named = plan({ tools, tool_choice: { type: "function", function: { name: "b" } } })!.grammar!;
    expect(named).not.toContain('\\"a\\"');
    expect(rules(named).root).not.toContain(")*");
  });

  it("errors are 400s naming the parameter", () => {
    const err = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return e as ApiError;
      }
      throw new Error("no error");
    };
    const bad = err(() => plan({ tools: [fn("f", { type: "object", properties: { a: { not: {} } } })], tool_choice: "required" }));
    expect([bad.status, bad.param]).toEqual([400, "tools"]);
    const wide = err(() => plan({ tools: [fn("f", { type: "object", properties: { a: { enum: Array.from({ length: 300 }, (_, i) => i) } } })], tool_choice: "required" }));
    expect([wide.status, wide.param, wide.code]).toEqual([400, "tools", "schema_too_wide"]);
    const both = err(() => plan({ tools: [fn("f", city)], tool_choice: "required", response_format: { type: "json_object" } }));
    expect([both.status, both.param]).toEqual([400, "tool_choice"]);
  });
});
