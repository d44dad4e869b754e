// validate.ts - the JSON body validator middleware: parse (whatever the Content-Type says,
// since curl -d sends form encoding), check against a zod schema, hand the typed body to the
// handler as c.req.valid("json"). Failures become 400s naming the offending parameter.
import type { MiddlewareHandler, ValidationTargets } from "hono";
import type { z } from "zod";
import { ApiError, fromZod } from "./errors.ts";

export function jsonBody<S extends z.ZodType>(
  schema: S,
): MiddlewareHandler<any, string, { in: { json: z.input<S> }; out: { json: z.output<S> } }> {
  return async (c, next) => {
    const text = await c.req.text();
    let value: unknown;
    try {
      value = JSON.parse(text);
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
    c.req.addValidatedData("json", parsed.data as ValidationTargets["json"]);
    await next();
  };
}
