// schemas.ts - zod schemas of the request bodies, field names exactly as OpenAI spells them,
// plus the extensions (top_k, min_p, repeat_penalty, ignore_eos, redrafter.draft). Unknown
// fields are ignored, as OpenAI-compatible servers do, so newer clients keep working.
// Every number is bounded to what the engine takes: counts and ids are int32 in native code
// (a larger value would wrap), reals finite (zod refuses Infinity, which JSON's 1e999 parses to).
import { z } from "zod";
import { toolFields, toolMessageFields, toolRequestIssues } from "./tools/schema.ts";

const num = (min: number, max: number) => z.number().min(min).max(max);
const INT32_MAX = 2 ** 31 - 1;
const int = (min: number, max = INT32_MAX) => z.number().int().min(min).max(max);

const responseFormat = z.discriminatedUnion("type", [
  z.object({ type: z.literal("text") }),
  z.object({ type: z.literal("json_object") }),
  z.object({
    type: z.literal("json_schema"),
    json_schema: z.object({
      name: z.string().max(64),
      description: z.string().optional(),
      schema: z.record(z.string(), z.unknown()).optional(),
      strict: z.boolean().nullish(),
    }),
  }),
]);

/** Fields shared by /v1/chat/completions and /v1/completions. */
const common = {
  model: z.string().optional(),
  max_tokens: int(1).nullish(),
  temperature: num(0, 2).nullish(),
  top_p: num(0, 1).nullish(),
  n: int(1).nullish(), // at most --max-n (validate.ts)
  stream: z.boolean().nullish(),
  stream_options: z.object({ include_usage: z.boolean().optional() }).nullish(),
  stop: z.union([z.string(), z.array(z.string()).max(4)]).nullish(),
  seed: int(Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER).nullish(), // folded into uint32 (sampling.ts)
  presence_penalty: num(-2, 2).nullish(),
  frequency_penalty: num(-2, 2).nullish(),
  logit_bias: z
    .record(z.string().regex(/^\d+$/, "keys must be token ids"), num(-100, 100))
    .nullish(),
  user: z.string().optional(),
  response_format: responseFormat.nullish(),
  // extensions, as llama.cpp and vLLM name them
  top_k: int(0).nullish(), // 0 = off; past the vocabulary it keeps every token
  min_p: num(0, 1).nullish(),
  repeat_penalty: z.number().gt(0).max(10).nullish(), // a divisor of logits: the native sampler refuses 0
  ignore_eos: z.boolean().nullish(),
  redrafter: z.object({ draft: z.boolean().optional() }).nullish(),
};

const textPart = z.object({ type: z.literal("text"), text: z.string() });

const message = z.object({
  role: z.enum(["system", "developer", "user", "assistant", "tool"]),
  content: z.union([z.string(), z.array(textPart)]).nullable().optional(),
  name: z.string().optional(),
  ...toolMessageFields,
});

export const chatRequest = z
  .object({
    ...common,
    messages: z.array(message).min(1),
    max_completion_tokens: int(1).nullish(),
    logprobs: z.boolean().nullish(),
    top_logprobs: int(0, 20).nullish(),
    ...toolFields,
    functions: z.array(z.unknown()).max(0, "functions are not supported by this server: use tools").nullish(),
  })
  .refine((r) => !r.top_logprobs || r.logprobs, {
    message: "top_logprobs requires logprobs to be true",
    path: ["top_logprobs"],
  })
  .superRefine((r, ctx) => {
    for (const [message, path] of toolRequestIssues(r)) ctx.addIssue({ code: "custom", message, path });
  });

const tokenIds = z.array(int(0)).min(1);

export const completionRequest = z
  .object({
    ...common,
    max_tokens: int(0).nullish(), // 0 with echo: scoring, the prompt and its log-probs only
    prompt: z.union([z.string(), z.array(z.string()).min(1), tokenIds, z.array(tokenIds).min(1)]),
    echo: z.boolean().nullish(),
    logprobs: int(0, 20).nullish(),
    suffix: z.string().nullish(), // fill-in-the-middle, for models with FIM tokens (routes/completions.ts)
    best_of: int(1).nullish(), // must equal n (routes/completions.ts)
  })
  .superRefine((r, ctx) => {
    if (r.max_tokens === 0 && !r.echo) ctx.addIssue({ code: "custom", message: "max_tokens 0 needs echo: true (scoring the prompt)", path: ["max_tokens"] });
    if (typeof r.suffix === "string" && r.echo) ctx.addIssue({ code: "custom", message: "suffix cannot be combined with echo", path: ["suffix"] });
  });

export type ChatRequest = z.infer<typeof chatRequest>;
export type CompletionRequest = z.infer<typeof completionRequest>;
export type CommonRequest = Pick<ChatRequest, keyof typeof common>;
export type ChatMessage = z.infer<typeof message>;
export type ResponseFormat = z.infer<typeof responseFormat>;
