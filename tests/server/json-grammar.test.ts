// json-grammar.test.ts - JSON Schema to GBNF: the rules each construct produces, clear
// refusals for what the subset does not cover, and the limits a hostile schema meets (nesting,
// size, grammar size) with a grammar that grows linearly with the schema. Whether llama.cpp
// accepts the grammars and the output parses is checked end to end in generation.test.ts; the
// limits over HTTP in limits.test.ts.
import { describe, expect, it } from "vitest";
import { defaultConfig } from "../../src/config.ts";
import { SchemaError, SchemaLimitError, gbnfLiteral, jsonObjectGrammar, jsonSchemaGrammar as convert, type SchemaLimits } from "../../src/server/json-grammar.ts";

const jsonSchemaGrammar = (schema: unknown, limits: Partial<SchemaLimits> = {}) => convert(schema, { ...defaultConfig, ...limits });

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

/** The SchemaLimitError f throws (fails if it throws anything else, or nothing). */
function limitError(f: () => unknown): SchemaLimitError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(SchemaLimitError);
    return e as SchemaLimitError;
  }
  throw new Error("no SchemaLimitError thrown");
}

/** `levels` schemas, each wrapped in the next by wrap, around {type: "string"}. */
function nested(levels: number, wrap: (inner: object) => object): object {
  let s: object = { type: "string" };
  for (let i = 0; i < levels; i++) s = wrap(s);
  return s;
}

describe("json grammar limits", () => {
  it("nesting: counted without recursion, refused past maxSchemaDepth, naming the setting", () => {
    // {items: ...} adds one object level: the root plus 63 wrappings is 64 levels
    expect(() => jsonSchemaGrammar(nested(63, (items) => ({ type: "array", items })))).not.toThrow();
    const e = limitError(() => jsonSchemaGrammar(nested(64, (items) => ({ type: "array", items }))));
    expect(e.code).toBe("schema_too_deep");
    expect(e.message).toContain("--max-schema-depth 64");
    // the audit's bodies: 9,200 nested anyOf (a segfault in llama.cpp's parser), 30,000 (a JS
    // stack overflow here): refused as too deep, by a walk that needs no stack
    for (const levels of [9200, 30_000]) {
      expect(limitError(() => jsonSchemaGrammar(nested(levels, (s) => ({ anyOf: [s] })))).code).toBe("schema_too_deep");
    }
    expect(limitError(() => jsonSchemaGrammar({ const: JSON.parse("[".repeat(100_000) + "]".repeat(100_000)) })).code).toBe("schema_too_deep");
    expect(limitError(() => jsonSchemaGrammar(nested(5, (items) => ({ items })), { maxSchemaDepth: 3 })).message).toContain("--max-schema-depth 3");
  });

  it("size: the schema's compact JSON in UTF-8 bytes, refused past maxSchemaBytes", () => {
    const schema = { type: "object", properties: { "clé": { type: "string", description: "été ✓ \"quoted\" \n" } }, required: ["clé"] };
    const bytes = Buffer.byteLength(JSON.stringify(schema));
    expect(() => jsonSchemaGrammar(schema, { maxSchemaBytes: bytes })).not.toThrow();
    const e = limitError(() => jsonSchemaGrammar(schema, { maxSchemaBytes: bytes - 1 }));
    expect(e.code).toBe("schema_too_large");
    expect(e.message).toContain(`--max-schema-bytes ${bytes - 1}`);
    expect(limitError(() => jsonSchemaGrammar({ type: "string", description: "x".repeat(70_000) })).message).toContain("--max-schema-bytes 65536");
  });

  it("grammar size: counted while generating, bounded repetitions as llama.cpp expands them", () => {
    // a few bytes of schema that llama.cpp would expand into billions of rules
    for (const schema of [{ type: "string", maxLength: 1e15 }, { type: "array", maxItems: 2 ** 40 }, { type: "array", minItems: 1e9 }]) {
      const e = limitError(() => jsonSchemaGrammar(schema));
      expect(e.code).toBe("grammar_too_large");
      expect(e.message).toContain("--max-grammar-bytes 262144");
    }
    // 40 strings of up to 1999 characters: 80,000 expanded copies of `char`
    const props = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`s${i}`, { type: "string", maxLength: 1999 }]));
    expect(limitError(() => jsonSchemaGrammar({ type: "object", properties: props })).code).toBe("grammar_too_large");
    expect(() => jsonSchemaGrammar({ type: "object", properties: props }, { maxGrammarBytes: 1 << 20 })).not.toThrow();
    // the limit holds exactly: the grammar's own length passes, one byte less does not
    const small = { type: "object", properties: { a: { type: "integer" }, b: { enum: ["x", "y"] } } };
    const length = jsonSchemaGrammar(small).length;
    expect(() => jsonSchemaGrammar(small, { maxGrammarBytes: length })).not.toThrow();
    expect(limitError(() => jsonSchemaGrammar(small, { maxGrammarBytes: length - 1 })).code).toBe("grammar_too_large");
  });

  it("alternatives: enum / anyOf / oneOf entries bounded in all, nested ones at every level", () => {
    // an enum of 5000 strings took ~4 s per token on Gemma 3 270M (the grammar sampler checks
    // every vocabulary token against every open alternative)
    const wide = (n: number) => ({ enum: Array.from({ length: n }, (_, i) => `v${i}`) });
    expect(() => jsonSchemaGrammar(wide(256))).not.toThrow();
    const e = limitError(() => jsonSchemaGrammar(wide(257)));
    expect(e.code).toBe("schema_too_wide");
    expect(e.message).toContain("--max-schema-alternatives 256");
    // 20 x 20 nested: 400 leaves open at once, 420 entries counted
    const nested = { anyOf: Array.from({ length: 20 }, () => ({ oneOf: Array.from({ length: 20 }, (_, i) => ({ const: i })) })) };
    expect(limitError(() => jsonSchemaGrammar(nested)).code).toBe("schema_too_wide");
    expect(() => jsonSchemaGrammar(nested, { maxSchemaAlternatives: 420 })).not.toThrow();
  });

  it("the grammar grows linearly: optional keys, repeated types, long keys, arrays of alternatives", () => {
    // 2,000 optional keys made a 57 MB grammar (every start listed every later key)
    const keys = Object.fromEntries(Array.from({ length: 2000 }, (_, i) => [`p${i}`, {}]));
    const wide = jsonSchemaGrammar({ type: "object", properties: keys }, { maxGrammarBytes: 1 << 30 });
    expect(wide.length).toBeLessThan(2000 * 150);
    const r3 = rules(jsonSchemaGrammar({ type: "object", properties: { a: {}, b: {}, c: {} } }));
    expect(r3[r3.root!]).toBe('"{" ws ( ( root-a-kv ( ws "," ws root-b-kv )? root-rest ) | ( root-b-kv root-rest ) | ( root-c-kv ) )? ws "}"');
    expect(r3["root-rest"]).toBe('( ws "," ws root-c-kv )?');
    // a type listed 3,000 times is one type (each copy converted the properties again)
    const once = jsonSchemaGrammar({ type: ["object"], properties: { a: { type: "string" } } });
    expect(jsonSchemaGrammar({ type: Array(3000).fill("object"), properties: { a: { type: "string" } } })).toBe(once);
    // rule names keep a bounded tail of the path, however long the keys
    const long = "k".repeat(5000);
    const deep = jsonSchemaGrammar(nested(20, (s) => ({ type: "object", properties: { [long]: s }, required: [long] })), { maxSchemaBytes: 1 << 20 });
    expect(Math.max(...Object.keys(rules(deep)).map((n) => n.length))).toBeLessThan(64);
    expect(deep.length).toBeLessThan(20 * 2 * (5000 + 200));
    // an array of alternatives names them once instead of writing them twice
    const colors = Array.from({ length: 1000 }, (_, i) => `color-${i}`);
    const ra = rules(jsonSchemaGrammar({ type: "array", items: { enum: colors }, maxItems: 100 }, { maxSchemaAlternatives: 1000 }));
    expect(ra["root-item"]).toMatch(/^\("\\"color-0\\"" \| /);
    expect(ra[ra.root!]).toBe('"[" ws ( root-item ( ws "," ws root-item ){0,99} ws )? "]"');
  });

  it("$ref: each target converted once, long reference chains without deep recursion", () => {
    const big = { type: "object", properties: Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`f${i}`, { type: "integer" }])) };
    const g = jsonSchemaGrammar({ $defs: { big }, type: "array", prefixItems: Array(500).fill({ $ref: "#/$defs/big" }) });
    expect(g.match(/^def-big ::= /gm)).toHaveLength(1);
    expect(g.match(/-f0-kv ::= /g)).toHaveLength(1);
    // 20,000 definitions, each referring to the next: a call chain that overflowed the stack
    const n = 20_000;
    const $defs = Object.fromEntries(Array.from({ length: n }, (_, i) => [`d${i}`, i + 1 < n ? { type: "array", items: { $ref: `#/$defs/d${i + 1}` } } : { type: "null" }]));
    const chain = jsonSchemaGrammar({ $defs, $ref: "#/$defs/d0" }, { maxSchemaBytes: 1 << 30, maxGrammarBytes: 1 << 30 });
    expect(rules(chain)[`def-d${n - 1}`]).toBe("null");
    // a reference to itself stays one rule (llama.cpp then refuses the left recursion)
    expect(rules(jsonSchemaGrammar({ $defs: { a: { $ref: "#/$defs/a" } }, $ref: "#/$defs/a" }))["def-a"]).toBe("def-a");
    expect(() => jsonSchemaGrammar({ $defs: {}, $ref: "#/$defs/constructor" })).toThrow(/points to nothing/);
  });

  it("length and count bounds must be non-negative integers", () => {
    expect(() => jsonSchemaGrammar({ type: "string", minLength: -1 })).toThrow(/minLength must be a non-negative integer/);
    expect(() => jsonSchemaGrammar({ type: "array", maxItems: 1.5 })).toThrow(/maxItems must be a non-negative integer/);
    expect(() => jsonSchemaGrammar({ type: "string", minLength: 3, maxLength: 2 })).toThrow(/maxLength < minLength/);
  });
});
