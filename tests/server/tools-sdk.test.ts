// tools-sdk.test.ts - tool calling through the official `openai` SDK on a real server with the
// tiny model (its template knows no tools: the fallback format). A random model calls a tool only
// when made to, so these use tool_choice required / named, where the grammar must produce a call
// whose arguments parse and match the function's schema, streamed and whole, with and without
// speculation; a multi-step flow feeds the tool's result back; bad tool fields are 400s.
import OpenAI from "openai";
import { describe, expect, it } from "vitest";
import { post, sdkServer } from "./server.ts";

const sdk = sdkServer();

// bounded values only: a random model inside an unbounded string may never close it
const weather: OpenAI.ChatCompletionFunctionTool = {
  type: "function",
  function: {
    name: "get_weather",
    description: "Current weather in a city",
    parameters: {
      type: "object",
      properties: {
        city: { type: "string", maxLength: 6 },
        unit: { enum: ["celsius", "fahrenheit"] },
        days: { type: "integer" },
      },
      required: ["city", "unit"],
      additionalProperties: false,
    },
  },
};
const time: OpenAI.ChatCompletionFunctionTool = {
  type: "function",
  function: { name: "get_time", parameters: { type: "object", properties: { utc: { type: "boolean" } }, required: ["utc"] } },
};
const tools = [weather, time];
const messages: OpenAI.ChatCompletionMessageParam[] = [{ role: "user", content: "What is the weather in Paris?" }];

function checkWeather(call: OpenAI.ChatCompletionMessageToolCall) {
  expect(call.id).toMatch(/^call_[A-Za-z0-9]{24}$/);
  expect(call.type).toBe("function");
  const fn = (call as OpenAI.ChatCompletionMessageFunctionToolCall).function;
  expect(fn.name).toBe("get_weather");
  const args = JSON.parse(fn.arguments);
  expect(Object.keys(args).slice(0, 2)).toEqual(["city", "unit"]);
  expect([...args.city].length).toBeLessThanOrEqual(6);
  expect(["celsius", "fahrenheit"]).toContain(args.unit);
  if ("days" in args) expect(Number.isInteger(args.days)).toBe(true);
  return args;
}

const named = { type: "function", function: { name: "get_weather" } } as const;

describe("tool calls (tiny model, fallback format)", () => {
  it("named: the call parses and matches the schema; finish_reason tool_calls; speculation on == off", async () => {
    const results = [];
    for (const draft of [true, false]) {
      const r = await sdk.client.chat.completions.create({
        model: "tiny-model", messages, tools, tool_choice: named, temperature: 0, max_tokens: 200, redrafter: { draft },
      } as OpenAI.ChatCompletionCreateParamsNonStreaming);
      const ch = r.choices[0]!;
      expect(ch.finish_reason).toBe("tool_calls");
      expect(ch.message.content).toBeNull();
      expect(ch.message.tool_calls).toHaveLength(1);
      results.push(checkWeather(ch.message.tool_calls![0]!));
      if (draft) expect((r as unknown as { redrafter: { drafted_tokens: number } }).redrafter.drafted_tokens).toBeGreaterThan(0);
    }
    expect(results[0]).toEqual(results[1]);
  });

  it("required, streamed: id and name first, then argument fragments; the SDK's stream helper assembles the same call", async () => {
    const body = { model: "tiny-model", messages, tools, tool_choice: "required" as const, parallel_tool_calls: false, temperature: 0.8, seed: 3, max_tokens: 200 };
    const whole = await sdk.client.chat.completions.create(body);
    const stream = await sdk.client.chat.completions.create({ ...body, stream: true });
    const deltas: OpenAI.ChatCompletionChunk.Choice.Delta.ToolCall[] = [];
    let finish: string | null = null;
    for await (const chunk of stream) {
      for (const ch of chunk.choices) {
        deltas.push(...(ch.delta.tool_calls ?? []));
        expect(ch.delta.content ?? "").toBe("");
        finish = ch.finish_reason ?? finish;
      }
    }
    expect(finish).toBe("tool_calls");
    expect(deltas[0]!.id).toMatch(/^call_/);
    expect(deltas[0]!.function!.name).toBeDefined();
    expect(deltas.slice(1).every((d) => d.id === undefined && d.function!.name === undefined && d.index === 0)).toBe(true);
    const args = deltas.map((d) => d.function!.arguments ?? "").join("");
    const call = whole.choices[0]!.message.tool_calls![0]! as OpenAI.ChatCompletionMessageFunctionToolCall;
    expect([deltas[0]!.function!.name, args]).toEqual([call.function.name, call.function.arguments]);
    expect(() => JSON.parse(args)).not.toThrow();

    const helper = sdk.client.chat.completions.stream(body);
    const final = await helper.finalChatCompletion();
    const helped = final.choices[0]!.message.tool_calls![0]! as OpenAI.ChatCompletionMessageFunctionToolCall;
    expect(helped.function).toEqual(call.function);
  });

  it("required with parallel calls: every call is a valid one", async () => {
    const r = await sdk.client.chat.completions.create({ model: "tiny-model", messages, tools, tool_choice: "required", temperature: 1, seed: 11, max_tokens: 300 });
    const calls = r.choices[0]!.message.tool_calls!;
    expect(calls.length).toBeGreaterThanOrEqual(1);
    expect(new Set(calls.map((c) => c.id)).size).toBe(calls.length);
    for (const c of calls as OpenAI.ChatCompletionMessageFunctionToolCall[]) {
      if (c.function.name === "get_weather") checkWeather(c);
      else expect(typeof JSON.parse(c.function.arguments).utc).toBe("boolean");
    }
  });

  it("multi-step: the call, the tool's result fed back, an answer (runTools and by hand)", async () => {
    const seen: unknown[] = [];
    const runner = sdk.client.chat.completions.runTools({
      model: "tiny-model", messages, tool_choice: named, temperature: 0, max_tokens: 200,
      tools: [{ type: "function", function: { ...weather.function, function: (a: unknown) => (seen.push(a), { temp_c: 21 }), parse: JSON.parse } }],
    });
    await runner.done();
    expect(seen).toHaveLength(1);
    checkWeather({ id: "call_000000000000000000000000", type: "function", function: { name: "get_weather", arguments: JSON.stringify(seen[0]) } });
    const history = runner.messages as OpenAI.ChatCompletionMessageParam[];
    expect(history.map((m) => m.role)).toEqual(["user", "assistant", "tool"]);

    const first = await sdk.client.chat.completions.create({ model: "tiny-model", messages, tools, tool_choice: named, temperature: 0, max_tokens: 200 });
    const body = { model: "tiny-model", tools, tool_choice: "none", temperature: 0, max_tokens: 8, ignore_eos: true };
    const answer = await sdk.client.chat.completions.create({
      ...body,
      messages: [...messages, first.choices[0]!.message, { role: "tool", tool_call_id: first.choices[0]!.message.tool_calls![0]!.id, content: '{"temp_c": 21}' }],
    } as OpenAI.ChatCompletionCreateParamsNonStreaming);
    expect(answer.choices[0]!.finish_reason).toBe("length");
    expect(answer.choices[0]!.message.tool_calls).toBeUndefined();
    expect(typeof answer.choices[0]!.message.content).toBe("string");
    const alone = await sdk.client.chat.completions.create({ ...body, messages } as OpenAI.ChatCompletionCreateParamsNonStreaming);
    const call = first.choices[0]!.message.tool_calls![0]! as OpenAI.ChatCompletionMessageFunctionToolCall;
    // the call and its result are in the prompt: at least a token per 3 characters of them
    expect(answer.usage!.prompt_tokens - alone.usage!.prompt_tokens).toBeGreaterThan((call.function.arguments.length + 14) / 3);
  });

  it("auto: the model is free; its output is content unless it wrote a call", async () => {
    const r = await sdk.client.chat.completions.create({ model: "tiny-model", messages, tools, temperature: 0, max_tokens: 12, ignore_eos: true } as OpenAI.ChatCompletionCreateParamsNonStreaming);
    const plain = await sdk.client.chat.completions.create({ model: "tiny-model", messages, tools, tool_choice: "none", temperature: 0, max_tokens: 12, ignore_eos: true } as OpenAI.ChatCompletionCreateParamsNonStreaming);
    expect(r.choices[0]!.message.tool_calls).toBeUndefined();
    expect(r.choices[0]!.finish_reason).toBe("length");
    expect(typeof r.choices[0]!.message.content).toBe("string");
    expect(plain.usage!.prompt_tokens).toBeLessThan(r.usage!.prompt_tokens); // none: tools not in the prompt
  });

  it("bad tool fields are 400s in OpenAI's error shape, naming the parameter", async () => {
    const cases: [object, string][] = [
      [{ tools: [{ type: "function", function: { name: "bad name!" } }] }, "tools[0].function.name"],
      [{ tools: [{ type: "retrieval" }] }, "tools[0].type"],
      [{ tools: Array.from({ length: 129 }, (_, i) => ({ type: "function", function: { name: `f${i}` } })) }, "tools"],
      [{ tools, tool_choice: { type: "function", function: { name: "nope" } } }, "tool_choice.function.name"],
      [{ tools, tool_choice: "sometimes" }, "tool_choice"],
      [{ tool_choice: "required" }, "tool_choice"],
      [{ tools: [weather, weather] }, "tools[1].function.name"],
      [{ tools: [{ type: "function", function: { name: "f", parameters: { type: "object", properties: { a: { not: {} } } } } }], tool_choice: "required" }, "tools"],
      [{ tools, tool_choice: "required", response_format: { type: "json_object" } }, "tool_choice"],
      [{ messages: [...messages, { role: "tool", content: "x" }] }, "messages[1].tool_call_id"],
      [{ messages: [{ role: "assistant", content: null, tool_calls: [{ id: "a", type: "function", function: { name: "f" } }] }] }, "messages[0].tool_calls[0].function.arguments"],
    ];
    for (const [body, param] of cases) {
      const r = await post(sdk.server.url, "/v1/chat/completions", { model: "tiny-model", messages, max_tokens: 1, ...body });
      const json = await r.json() as { error: { type: string; param: string } };
      expect([r.status, json.error.type, json.error.param], JSON.stringify(body).slice(0, 200)).toEqual([400, "invalid_request_error", param]);
    }
  });
});
