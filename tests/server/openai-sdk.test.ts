// openai-sdk.test.ts - the official `openai` npm SDK against a real server on the tiny model:
// chat and legacy completions, streamed and whole, n > 1, log-probs, and the exactness a user
// relies on (streamed text == whole text; speculation on == off).
import OpenAI from "openai";
import { describe, expect, it } from "vitest";
import { sdkServer } from "./server.ts";

const sdk = sdkServer();

const messages = [{ role: "user" as const, content: "Tell me a story about a llama." }];
// a random model may well sample EOS first; tests that need text keep generating past it
const noEos = { ignore_eos: true } as object;

async function streamedChat(params: Omit<OpenAI.ChatCompletionCreateParamsStreaming, "stream" | "model" | "messages">) {
  const stream = await sdk.client.chat.completions.create({ model: "tiny-model", messages, stream: true, ...params });
  const text: string[] = [];
  let finish: string | null = null;
  for await (const chunk of stream) {
    for (const ch of chunk.choices) {
      text[ch.index] = (text[ch.index] ?? "") + (ch.delta.content ?? "");
      finish = ch.finish_reason ?? finish;
    }
  }
  return { text, finish };
}

describe("openai SDK", () => {
  it("chat, whole: message, finish_reason, usage, redrafter stats", async () => {
    const r = await sdk.client.chat.completions.create({ model: "tiny-model", messages, max_tokens: 12, temperature: 0, ...noEos });
    expect(r.object).toBe("chat.completion");
    expect(r.id).toMatch(/^chatcmpl-/);
    expect(r.model).toBe("tiny-model");
    expect(r.choices).toHaveLength(1);
    const ch = r.choices[0]!;
    expect(ch.message.role).toBe("assistant");
    expect(typeof ch.message.content).toBe("string");
    expect(["stop", "length"]).toContain(ch.finish_reason);
    expect(r.usage!.prompt_tokens).toBeGreaterThan(0);
    expect(r.usage!.completion_tokens).toBe(12);
    expect(ch.finish_reason).toBe("length");
    expect(r.usage!.total_tokens).toBe(r.usage!.prompt_tokens + r.usage!.completion_tokens);
    const rd = (r as unknown as { redrafter: Record<string, unknown> }).redrafter;
    expect(Object.keys(rd).sort()).toEqual(["accepted_tokens", "copy_accepted_tokens", "drafted_tokens", "target_calls", "tau", "timings", "tree_dedup", "tree_nodes"]);
    expect(Object.keys(rd.timings as object).sort()).toEqual(["generation_ms", "prompt_ms", "queue_ms", "tokens_per_s", "ttft_ms"]);
    expect(rd.drafted_tokens as number).toBeGreaterThan(0); // the tiny drafter is loaded and used
  });

  it("chat, streamed: the same text as whole, for greedy and for a seeded sampler", async () => {
    for (const params of [{ temperature: 0 }, { temperature: 0.9, top_p: 0.95, seed: 1234 }]) {
      const whole = await sdk.client.chat.completions.create({ model: "tiny-model", messages, max_tokens: 16, ...params, ...noEos });
      const streamed = await streamedChat({ max_tokens: 16, ...params, ...noEos });
      expect(streamed.text[0]).toBe(whole.choices[0]!.message.content);
      expect(streamed.finish).toBe(whole.choices[0]!.finish_reason);
    }
  });

  it("speculation on and off give identical text", async () => {
    for (const params of [{ temperature: 0 }, { temperature: 1, seed: 7 }]) {
      const body: OpenAI.ChatCompletionCreateParamsNonStreaming = { model: "tiny-model", messages, max_tokens: 24, ...params, ...noEos };
      const on = await sdk.client.chat.completions.create(body);
      // extension fields pass through the SDK untouched
      const off = await sdk.client.chat.completions.create({ ...body, redrafter: { draft: false } } as typeof body);
      expect(on.choices[0]!.message.content).toBe(off.choices[0]!.message.content);
      const stats = (r: unknown) => (r as { redrafter: { drafted_tokens: number } }).redrafter;
      expect(stats(on).drafted_tokens).toBeGreaterThan(0);
      expect(stats(off).drafted_tokens).toBe(0);
    }
  });

  it("n > 1: one choice per index, choice i sampled with seed + i", async () => {
    const body = { model: "tiny-model", messages, max_tokens: 10, temperature: 1, seed: 99, ...noEos };
    const r = await sdk.client.chat.completions.create({ ...body, n: 3 });
    expect(r.choices.map((c) => c.index)).toEqual([0, 1, 2]);
    const single0 = await sdk.client.chat.completions.create({ ...body });
    const single1 = await sdk.client.chat.completions.create({ ...body, seed: 100 });
    expect(r.choices[0]!.message.content).toBe(single0.choices[0]!.message.content);
    expect(r.choices[1]!.message.content).toBe(single1.choices[0]!.message.content);
    expect(r.usage!.completion_tokens).toBe(30);

    const streamed = await streamedChat({ max_tokens: 10, temperature: 1, seed: 99, n: 3, ...noEos });
    expect(streamed.text).toEqual(r.choices.map((c) => c.message.content));
  });

  it("chat logprobs in OpenAI's shape, whole and streamed", async () => {
    const r = await sdk.client.chat.completions.create({ model: "tiny-model", messages, max_tokens: 6, temperature: 0, logprobs: true, top_logprobs: 3, ...noEos });
    const content = r.choices[0]!.logprobs!.content!;
    expect(content.length).toBe(6);
    for (const t of content) {
      expect(Object.keys(t).sort()).toEqual(["bytes", "logprob", "token", "top_logprobs"]);
      expect(t.logprob).toBeLessThanOrEqual(0);
      expect(t.top_logprobs).toHaveLength(3);
      // greedy: the chosen token is among the likeliest (EOS, banned by ignore_eos, may top the list)
      const tops = t.top_logprobs.map((a) => a.logprob);
      expect(tops).toEqual([...tops].sort((a, b) => b - a));
      expect(t.top_logprobs.slice(0, 2).some((a) => a.token === t.token && Math.abs(a.logprob - t.logprob) < 1e-4)).toBe(true);
      expect(t.bytes!.length).toBeGreaterThan(0);
    }
    expect(Buffer.from(content.flatMap((t) => t.bytes!)).toString("utf8")).toBe(r.choices[0]!.message.content);

    const stream = await sdk.client.chat.completions.create({ model: "tiny-model", messages, max_tokens: 6, temperature: 0, logprobs: true, top_logprobs: 3, stream: true, ...noEos });
    const streamed: string[] = [];
    for await (const chunk of stream) for (const c of chunk.choices) for (const t of c.logprobs?.content ?? []) streamed.push(t.token);
    expect(streamed).toEqual(content.map((t) => t.token));

    const plain = await sdk.client.chat.completions.create({ model: "tiny-model", messages, max_tokens: 2, temperature: 0 });
    expect(plain.choices[0]!.logprobs).toBeNull();
  });

  it("completions, whole and streamed, with echo and log-probs", async () => {
    const prompt = "Once upon a time";
    const r = await sdk.client.completions.create({ model: "tiny-model", prompt, max_tokens: 8, temperature: 0, logprobs: 2, ...noEos });
    expect(r.object).toBe("text_completion");
    expect(r.id).toMatch(/^cmpl-/);
    const ch = r.choices[0]!;
    const lp = ch.logprobs!;
    expect(lp.tokens!.length).toBe(8);
    expect(lp.token_logprobs!.length).toBe(lp.tokens!.length);
    expect(lp.top_logprobs!.every((t) => Object.keys(t).length >= 1 && Object.keys(t).length <= 2)).toBe(true);
    expect(lp.text_offset![0]).toBe(0);

    const stream = await sdk.client.completions.create({ model: "tiny-model", prompt, max_tokens: 8, temperature: 0, stream: true, ...noEos });
    let text = "";
    for await (const chunk of stream) text += chunk.choices[0]?.text ?? "";
    expect(text).toBe(ch.text);

    const echoed = await sdk.client.completions.create({ model: "tiny-model", prompt, max_tokens: 8, temperature: 0, echo: true, logprobs: 0, ...noEos });
    expect(echoed.choices[0]!.text).toBe(prompt + ch.text);
    // echo with logprobs: the prompt's tokens come first (OpenAI's legacy shape), the first without a log-prob
    const elp = echoed.choices[0]!.logprobs!;
    expect(elp.text_offset![0]).toBe(0);
    expect(elp.token_logprobs![0]).toBeNull();
    expect(elp.text_offset!.at(-lp.tokens!.length)).toBe(prompt.length);
  });

  it("completions take token prompts and lists of prompts", async () => {
    const a = await sdk.client.completions.create({ model: "tiny-model", prompt: "Hello", max_tokens: 5, temperature: 0, ...noEos });
    const many = await sdk.client.completions.create({ model: "tiny-model", prompt: ["Hello", "Bye"], max_tokens: 5, temperature: 0, n: 2, ...noEos });
    expect(many.choices.map((c) => c.index)).toEqual([0, 1, 2, 3]);
    expect(many.choices[0]!.text).toBe(a.choices[0]!.text);
    expect(many.choices[1]!.text).toBe(a.choices[0]!.text); // greedy: both choices agree
    const ids = await sdk.client.completions.create({ model: "tiny-model", prompt: [1, 20, 30, 40], max_tokens: 4, temperature: 0 });
    expect(ids.usage!.prompt_tokens).toBe(4);
  });

  it("maps errors to the SDK's typed errors", async () => {
    await expect(sdk.client.chat.completions.create({ model: "nope", messages })).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(sdk.client.chat.completions.create({ model: "tiny-model", messages, temperature: 3 })).rejects.toMatchObject({
      status: 400,
      param: "temperature",
    });
  });
});
