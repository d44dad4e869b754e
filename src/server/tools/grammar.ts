// tools/grammar.ts - the GBNF grammar that makes `tool_choice: "required"` or a named function
// certain: the output is one call (or, with parallel_tool_calls, one or more) in the template's
// format (tools/format.ts), the name one of the allowed functions, the arguments JSON that
// matches that function's parameters schema (json-grammar.ts, under the server's schema limits,
// counted over all the tools together). The grammar goes to the same native sampler as a
// response_format's, for plain and speculative decoding alike.
import { gbnfLiteral, schemasGrammar, type SchemaLimits } from "../json-grammar.ts";
import type { ToolFormat } from "./format.ts";
import type { Tool } from "./schema.ts";

/** A function without parameters takes an empty object. */
const NO_PARAMETERS = { type: "object", properties: {}, additionalProperties: false };

/** Grammar for calls to `tools` (already narrowed to the allowed ones). Throws SchemaError /
 *  SchemaLimitError (json-grammar.ts) for a parameters schema it cannot or may not convert. */
export function toolCallGrammar(format: ToolFormat, tools: readonly Tool[], parallel: boolean, limits: SchemaLimits): string {
  const schemas = tools.map((t) => t.function.parameters ?? NO_PARAMETERS);
  const hints = tools.map((t) => `fn-${t.function.name}`);
  return schemasGrammar(schemas, hints, limits, (args) => {
    const calls = args.map((a, i) =>
      `${gbnfLiteral(`{"name": ${JSON.stringify(tools[i]!.function.name)}, "${format.argsKey}": `)} ${a} "}"`);
    const call = calls.length === 1 ? calls[0]! : `( ${calls.join(" | ")} )`;
    switch (format.name) {
      case "mistral": {
        const more = parallel ? ` ( ", " ${call} )*` : "";
        return `${gbnfLiteral(format.open)}? "[" ${call}${more} "]"`;
      }
      case "llama3":
        return parallel ? `${call} ( "; " ${call} )*` : call;
      default: {
        const block = `${gbnfLiteral(`${format.open}\n`)} ${call} ${gbnfLiteral(`\n${format.close}`)}`;
        return parallel ? `${block} ( "\\n" ${block} )*` : block;
      }
    }
  });
}
