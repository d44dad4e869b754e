// chat-template.test.ts - which template a model's chats are rendered with, and the Gemma
// fallback's output for system/user/assistant and multi-turn conversations.
import { describe, expect, it } from "vitest";
import { FALLBACK_TEMPLATE, modelChatTemplate, renderChat } from "../../src/engine/chat-template.ts";

const opts = { bos_token: "<bos>", eos_token: "<eos>", add_generation_prompt: true };
const meta = (m: Record<string, string>) => (k: string) => m[k] ?? null;

describe("modelChatTemplate", () => {
  it("prefers the GGUF's own template", () => {
    expect(modelChatTemplate(meta({ "tokenizer.chat_template": "X", "general.architecture": "gemma3" }))).toBe("X");
  });

  it("falls back to ChatML for an unknown architecture", () => {
    expect(modelChatTemplate(meta({ "general.architecture": "llama" }))).toBe(FALLBACK_TEMPLATE);
  });

  it("renders Gemma turns for a gemma model without a template", () => {
    const t = modelChatTemplate(meta({ "general.architecture": "gemma3" }));
    const text = renderChat(t, [
      { role: "system", content: "Be brief." },
      { role: "user", content: "Hi" },
      { role: "assistant", content: "Hello!" },
      { role: "user", content: "2+2?" },
    ], opts);
    expect(text).toBe(
      "<bos><start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\nHello!<end_of_turn>\n" +
        "<start_of_turn>user\n2+2?<end_of_turn>\n<start_of_turn>model\n",
    );
    expect(renderChat(t, [{ role: "user", content: "Hi" }], { ...opts, add_generation_prompt: false })).toBe(
      "<bos><start_of_turn>user\nHi<end_of_turn>\n",
    );
  });
});
