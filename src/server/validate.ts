// validate.ts - the JSON body validator middleware: require `Content-Type: application/json`
// (a cross-site form or text/plain POST needs no CORS preflight; a JSON one does), read the body
// under the server's limits, parse it, check it against a zod schema and the limits that come
// from the settings (--max-n), and hand the typed body to the handler as c.req.valid("json").
// Failures become 4xx errors naming the offending parameter.
import type { MiddlewareHandler, ValidationTargets } from "hono";
import type { z } from "zod";
import { readBody } from "./body.ts";
import { ApiError, fromZod } from "./errors.ts";

const decoder = new TextDecoder();

export function jsonBody<S extends z.ZodType>(
  schema: S,
): MiddlewareHandler<any, string, { in: { json: z.input<S> }; out: { json: z.output<S> } }> {
  return async (c, next) => {
    const config = c.var.state.config;
    const type = c.req.header("Content-Type");
    if (type?.split(";")[0]!.trim().toLowerCase() !== "application/json") {
      throw new ApiError(415, `The request body must be JSON sent as 'Content-Type: application/json'${type ? ` (got '${type}')` : ""}`,
        "invalid_request_error", "unsupported_media_type");
    }
    const bytes = await readBody(c, { maxBytes: config.maxBody, timeoutS: config.bodyTimeout });
    let value: unknown;
    try {
      value = JSON.parse(decoder.decode(bytes));
    } catch (e) {
      throw ApiError.invalid(
        `We could not parse the JSON body of your request: ${(e as Error).message}`,
        null,
        "invalid_json",
      );
    }
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      throw ApiError.invalid("The request body must be a JSON object", null, "invalid_json");
    }
    const parsed = schema.safeParse(value);
    if (!parsed.success) throw fromZod(parsed.error);
    const n = (parsed.data as { n?: number | null }).n;
    if (n && n > config.maxN) {
      throw ApiError.invalid(`Invalid 'n': at most ${config.maxN} choices per request on this server (--max-n)`, "n");
    }
    c.req.addValidatedData("json", parsed.data as ValidationTargets["json"]);
    await next();
  };
}
