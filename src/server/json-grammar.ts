// json-grammar.ts - response_format to a GBNF grammar for llama.cpp's grammar sampler:
// json_object = any JSON object, json_schema = a JSON Schema subset. node-llama-cpp has a
// converter but does not export it and ends every grammar in forced newlines, hence this one.
//
// Supported: type (incl. arrays of types), properties/required, additionalProperties
// (false unless given as true or a schema, so the model does not invent keys), items,
// prefixItems, minItems/maxItems, minLength/maxLength, enum, const, anyOf/oneOf, allOf of one
// schema, $ref into #/$defs or #/definitions (recursion included). Required properties come
// first, then the optional ones, each in declaration order. Value constraints a grammar cannot
// express cheaply (pattern, format, minimum, maximum, multipleOf) are not enforced: the output
// is JSON of the right shape. Keywords that change the shape (not, if/then/else,
// patternProperties, allOf of several) are refused with SchemaError.

export class SchemaError extends Error {
  override name = "SchemaError";
}

const PRIMITIVES: Record<string, string> = {
  // bounded whitespace: a weak model must not be able to emit spaces forever
  ws: '| " " | "\\n" [ \\t]{0,20}',
  char: '[^"\\\\\\x7F\\x00-\\x1F] | "\\\\" (["\\\\/bfnrt] | "u" [0-9a-fA-F]{4})',
  string: '"\\"" char* "\\""',
  number: '"-"? ("0" | [1-9] [0-9]{0,15}) ("." [0-9]+)? ([eE] [-+]? [0-9]+)?',
  integer: '"-"? ("0" | [1-9] [0-9]{0,15})',
  boolean: '"true" | "false"',
  null: '"null"',
  value: "object | array | string | number | boolean | null",
  object: '"{" ws ( member ( ws "," ws member )* ws )? "}"',
  member: 'string ws ":" ws value',
  array: '"[" ws ( value ( ws "," ws value )* ws )? "]"',
};

// each primitive with the primitives its body mentions
const DEPS: Record<string, string[]> = {
  ws: [], char: [], string: ["char"], number: [], integer: [], boolean: [], null: [],
  value: ["object", "array", "string", "number", "boolean", "null"],
  object: ["ws", "member"], member: ["string", "ws", "value"], array: ["ws", "value"],
};

const REFUSED = ["not", "if", "then", "else", "patternProperties", "dependentSchemas", "unevaluatedProperties"];

/** A GBNF string literal matching exactly `text`. */
export function gbnfLiteral(text: string): string {
  return `"${text.replace(/[\\"]/g, "\\$&").replace(/\n/g, "\\n").replace(/\r/g, "\\r").replace(/\t/g, "\\t")}"`;
}

type Schema = Record<string, unknown>;

class Builder {
  readonly rules = new Map<string, string>();
  readonly #refs = new Map<string, string>();

  constructor(readonly root: Schema) {}

  /** Rule name for a primitive, pulling in what it depends on. */
  prim(name: string): string {
    if (!this.rules.has(name)) {
      this.rules.set(name, PRIMITIVES[name]!);
      for (const d of DEPS[name]!) this.prim(d);
    }
    return name;
  }

  /** A new rule with a unique name derived from hint. */
  rule(hint: string, body: string): string {
    const base = hint.replace(/[^a-zA-Z0-9-]+/g, "-").replace(/^-+|-+$/g, "").toLowerCase() || "r";
    let name = base in PRIMITIVES ? `${base}-1` : base;
    for (let i = 2; this.rules.has(name); i++) name = `${base}-${i}`;
    this.rules.set(name, body);
    return name;
  }

  /** GBNF expression (a rule name or a parenthesised alternation) for a schema. */
  visit(schema: unknown, hint: string): string {
    if (schema === true || (typeof schema === "object" && schema !== null && Object.keys(schema).length === 0)) {
      return this.prim("value");
    }
    if (typeof schema !== "object" || schema === null || Array.isArray(schema)) {
      throw new SchemaError(`${hint}: a schema must be an object or true`);
    }
    const s = schema as Schema;
    for (const k of REFUSED) if (k in s) throw new SchemaError(`${hint}: '${k}' is not supported`);

    if (typeof s.$ref === "string") return this.#ref(s.$ref);
    if ("const" in s) return gbnfLiteral(JSON.stringify(s.const));
    if (Array.isArray(s.enum)) {
      if (s.enum.length === 0) throw new SchemaError(`${hint}: enum must not be empty`);
      return `(${s.enum.map((v) => gbnfLiteral(JSON.stringify(v))).join(" | ")})`;
    }
    const alts = (s.anyOf ?? s.oneOf) as unknown;
    if (alts !== undefined) {
      if (!Array.isArray(alts) || alts.length === 0) throw new SchemaError(`${hint}: anyOf/oneOf must be a non-empty array`);
      return `(${alts.map((a, i) => this.visit(a, `${hint}-${i}`)).join(" | ")})`;
    }
    if (s.allOf !== undefined) {
      if (!Array.isArray(s.allOf) || s.allOf.length !== 1) throw new SchemaError(`${hint}: allOf is supported with one schema only`);
      return this.visit(s.allOf[0], hint);
    }

    const type = s.type ?? (s.properties ? "object" : s.items || s.prefixItems ? "array" : undefined);
    if (type === undefined) return this.prim("value");
    if (Array.isArray(type)) return `(${type.map((t) => this.#typed(s, t, hint)).join(" | ")})`;
    return this.#typed(s, type, hint);
  }

  #typed(s: Schema, type: unknown, hint: string): string {
    switch (type) {
      case "string": return this.#string(s, hint);
      case "number": case "integer": case "boolean": case "null": return this.prim(type);
      case "object": return this.#object(s, hint);
      case "array": return this.#array(s, hint);
      default: throw new SchemaError(`${hint}: unknown type ${JSON.stringify(type)}`);
    }
  }

  #ref(ref: string): string {
    const m = /^#\/(\$defs|definitions)\/(.+)$/.exec(ref);
    if (!m) throw new SchemaError(`$ref '${ref}': only #/$defs/... and #/definitions/... are supported`);
    const known = this.#refs.get(ref);
    if (known) return known;
    const target = (this.root[m[1]!] as Schema | undefined)?.[m[2]!];
    if (target === undefined) throw new SchemaError(`$ref '${ref}' points to nothing`);
    // reserve the name before visiting so recursive schemas refer back to it
    const name = this.rule(`def-${m[2]}`, "");
    this.#refs.set(ref, name);
    this.rules.set(name, this.visit(target, name));
    return name;
  }

  #string(s: Schema, hint: string): string {
    const min = typeof s.minLength === "number" ? s.minLength : 0;
    const max = typeof s.maxLength === "number" ? s.maxLength : undefined;
    if (min === 0 && max === undefined) return this.prim("string");
    this.prim("char");
    return this.rule(`${hint}-string`, `"\\"" char{${min},${max ?? ""}} "\\""`);
  }

  #object(s: Schema, hint: string): string {
    const props = (s.properties ?? {}) as Record<string, unknown>;
    const required = new Set(Array.isArray(s.required) ? (s.required as string[]) : []);
    const ws = this.prim("ws");
    const member = (key: string) =>
      this.rule(`${hint}-${key}-kv`, `${gbnfLiteral(JSON.stringify(key))} ${ws} ":" ${ws} ${this.visit(props[key], `${hint}-${key}`)}`);
    const req = Object.keys(props).filter((k) => required.has(k)).map(member);
    const opt = Object.keys(props).filter((k) => !required.has(k)).map(member);
    for (const k of required) if (!(k in props)) throw new SchemaError(`${hint}: required property '${k}' is not in properties`);

    const ap = s.additionalProperties;
    let extra: string | null = null;
    if (ap === true || (typeof ap === "object" && ap !== null)) {
      extra = this.rule(`${hint}-extra-kv`, `${this.prim("string")} ${ws} ":" ${ws} ${this.visit(ap, `${hint}-extra`)}`);
    } else if (ap === undefined && Object.keys(props).length === 0) {
      return this.prim("object");
    }
    const sep = (x: string) => `${ws} "," ${ws} ${x}`;
    const extras = extra ? ` ( ${sep(extra)} )*` : "";

    let body: string;
    if (req.length > 0) {
      body = [req[0], ...req.slice(1).map(sep), ...opt.map((o) => `( ${sep(o)} )?`)].join(" ") + extras;
    } else {
      // no required key: the object starts with any optional one (or an extra), then the later ones
      const starts = opt.map((o, i) => [o, ...opt.slice(i + 1).map((l) => `( ${sep(l)} )?`)].join(" ") + extras);
      if (extra) starts.push(`${extra}${extras}`);
      body = starts.length ? `( ${starts.map((x) => `( ${x} )`).join(" | ")} )?` : "";
      return this.rule(`${hint}-object`, `"{" ${ws} ${body ? `${body} ${ws} ` : ""}"}"`);
    }
    return this.rule(`${hint}-object`, `"{" ${ws} ${body} ${ws} "}"`);
  }

  #array(s: Schema, hint: string): string {
    const ws = this.prim("ws");
    const sep = (x: string) => `${ws} "," ${ws} ${x}`;
    if (Array.isArray(s.prefixItems)) {
      const items = s.prefixItems.map((p, i) => this.visit(p, `${hint}-${i}`));
      const body = items.length ? [items[0]!, ...items.slice(1).map(sep)].join(" ") + ` ${ws} ` : "";
      return this.rule(`${hint}-tuple`, `"[" ${ws} ${body}"]"`);
    }
    const item = this.visit(s.items ?? true, `${hint}-item`);
    const min = typeof s.minItems === "number" ? s.minItems : 0;
    const max = typeof s.maxItems === "number" ? s.maxItems : undefined;
    if (max !== undefined && max < min) throw new SchemaError(`${hint}: maxItems < minItems`);
    if (max === 0) return this.rule(`${hint}-array`, `"[" ${ws} "]"`);
    const rest = `( ${sep(item)} ){${Math.max(0, min - 1)},${max === undefined ? "" : max - 1}}`;
    const list = `${item} ${rest} ${ws}`;
    return this.rule(`${hint}-array`, min === 0 ? `"[" ${ws} ( ${list} )? "]"` : `"[" ${ws} ${list} "]"`);
  }

  render(rootExpr: string): string {
    const lines = [`root ::= ${rootExpr}`];
    for (const [name, body] of this.rules) lines.push(`${name} ::= ${body}`);
    return lines.join("\n") + "\n";
  }
}

/** Grammar for any JSON object (response_format json_object). */
export function jsonObjectGrammar(): string {
  const b = new Builder({});
  return b.render(b.prim("object"));
}

/** Grammar for a JSON Schema (response_format json_schema). Throws SchemaError. */
export function jsonSchemaGrammar(schema: unknown): string {
  if (typeof schema !== "object" || schema === null) throw new SchemaError("the schema must be a JSON object");
  const b = new Builder(schema as Schema);
  return b.render(b.visit(schema, "root"));
}
