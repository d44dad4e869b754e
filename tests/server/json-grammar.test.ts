// json-grammar.test.ts - JSON Schema to GBNF: the rules each construct produces, and clear
// refusals for what the subset does not cover. Whether llama.cpp accepts the grammars and
// the output parses is checked end to end in generation.test.ts.
import { describe, expect, it } from "vitest";
import { SchemaError, gbnfLiteral, jsonObjectGrammar, jsonSchemaGrammar } from "../../src/server/json-grammar.ts";

const rules = (g: string) => Object.fromEntries(g.trim().split("\n").map((l) => l.split(" ::= ") as [string, string]));

describe("json grammar", () => {
  it("json_object: root is any object, whitespace bounded", () => {
    const r = rules(jsonObjectGrammar());
    expect(r.root).toBe("object");
    expect(r.ws).toContain("{0,20}");
    for (const name of ["object", "member", "value", "array", "string", "number", "boolean", "null", "char"]) expect(r[name]).toBeDefined();
  });

  it("escapes literals for GBNF", () => {
    expect(gbnfLiteral('"a\\b"\n')).toBe('"\\"a\\\\b\\"\\n"');
  });

  it("objects: required keys in order, optional ones after, no invented keys", () => {
    const g = jsonSchemaGrammar({
      type: "object",
      properties: { name: { type: "string" }, age: { type: "integer" }, nick: { type: "string" } },
      required: ["name", "age"],
    });
    const r = rules(g);
    const obj = r[r.root!]!;
    expect(obj.indexOf("root-name-kv")).toBeLessThan(obj.indexOf("root-age-kv"));
    expect(obj).toMatch(/\( ws "," ws root-nick-kv \)\?/);
    expect(r["root-name-kv"]).toBe('"\\"name\\"" ws ":" ws string');
    expect(r["root-age-kv"]).toContain("integer");
    expect(g).not.toContain("member"); // additionalProperties defaults to none
  });

  it("objects without required keys may be empty or start at any optional key", () => {
    const r = rules(jsonSchemaGrammar({ type: "object", properties: { a: { type: "null" }, b: { type: "boolean" } } }));
    expect(r[r.root!]).toBe('"{" ws ( ( root-a-kv ( ws "," ws root-b-kv )? ) | ( root-b-kv ) )? ws "}"');
  });

  it("enum, const, anyOf, type lists, nullable", () => {
    const r = rules(jsonSchemaGrammar({
      type: "object",
      properties: {
        color: { enum: ["red", 1, null] },
        k: { const: "x" },
        v: { anyOf: [{ type: "string" }, { type: "number" }] },
        w: { type: ["integer", "null"] },
      },
      required: ["color", "k", "v", "w"],
    }));
    expect(r["root-color-kv"]).toContain('("\\"red\\"" | "1" | "null")');
    expect(r["root-k-kv"]).toContain('"\\"x\\""');
    expect(r["root-v-kv"]).toContain("(string | number)");
    expect(r["root-w-kv"]).toContain("(integer | null)");
  });

  it("arrays: items with min/max counts, tuples, string lengths", () => {
    const r = rules(jsonSchemaGrammar({ type: "array", items: { type: "string", minLength: 1, maxLength: 3 }, minItems: 1, maxItems: 4 }));
    expect(r[r.root!]).toBe('"[" ws root-item-string ( ws "," ws root-item-string ){0,3} ws "]"');
    expect(r["root-item-string"]).toBe('"\\"" char{1,3} "\\""');
    const t = rules(jsonSchemaGrammar({ type: "array", prefixItems: [{ type: "integer" }, { type: "boolean" }] }));
    expect(t[t.root!]).toBe('"[" ws integer ws "," ws boolean ws "]"');
  });

  it("$ref into $defs, recursion included", () => {
    const r = rules(jsonSchemaGrammar({
      $defs: { node: { type: "object", properties: { next: { anyOf: [{ $ref: "#/$defs/node" }, { type: "null" }] } }, required: ["next"] } },
      $ref: "#/$defs/node",
    }));
    expect(r.root).toBe("def-node");
    expect(r["def-node"]).toBe("def-node-object");
    expect(r["def-node-next-kv"]).toContain("(def-node | null)");
  });

  it("additionalProperties as a schema allows extra keys of that type", () => {
    const r = rules(jsonSchemaGrammar({ type: "object", additionalProperties: { type: "number" } }));
    expect(r["root-extra-kv"]).toBe("string ws \":\" ws number");
  });

  it("refuses what the subset does not cover, naming the place", () => {
    expect(() => jsonSchemaGrammar({ not: {} })).toThrow(SchemaError);
    expect(() => jsonSchemaGrammar({ type: "object", properties: { a: { if: {} } } })).toThrow(/root-a: 'if' is not supported/);
    expect(() => jsonSchemaGrammar({ allOf: [{}, {}] })).toThrow(/allOf/);
    expect(() => jsonSchemaGrammar({ $ref: "http://x/y" })).toThrow(/only #\/\$defs/);
    expect(() => jsonSchemaGrammar({ $ref: "#/$defs/missing" })).toThrow(/points to nothing/);
    expect(() => jsonSchemaGrammar({ type: "date" })).toThrow(/unknown type/);
    expect(() => jsonSchemaGrammar({ type: "object", properties: {}, required: ["x"] })).toThrow(/required property 'x'/);
  });
});
