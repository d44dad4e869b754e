// json-grammar.ts - response_format to a GBNF grammar for llama.cpp's grammar sampler:
// json_object = any JSON object, json_schema = a JSON Schema subset. node-llama-cpp has a
// converter but does not export it and ends every grammar in forced newlines, hence this one.
// Over 300 lines because it is one Builder: its rules call each other (and $refs) with shared limits and rule names.
//
// Supported: type (incl. arrays of types), properties/required, additionalProperties
// (false unless given as true or a schema, so the model does not invent keys), items,
// prefixItems, minItems/maxItems, minLength/maxLength, enum, const, anyOf/oneOf, allOf of one
// schema, $ref into #/$defs or #/definitions (recursion included). Required properties come
// first, then the optional ones, each in declaration order. Value constraints a grammar cannot
// express cheaply (pattern, format, minimum, maximum, multipleOf) are not enforced: the output
// is JSON of the right shape. Keywords that change the shape (not, if/then/else,
// patternProperties, allOf of several) are refused with SchemaError.
//
// A client controls the schema, so the work is bounded before and during conversion: the schema's
// JSON size and nesting are measured without recursion first, then the grammar's size is counted
// as it is generated and the conversion stops once it passes the limit (SchemaLimitError). Each
// $defs target is converted once, from a work list rather than at the reference, so references
// neither repeat work nor deepen the recursion.
import { SETTINGS, type Config } from "../config.ts";

export class SchemaError extends Error {
  override name = "SchemaError";
}

/** The schema or its grammar is over one of the server's limits (code: what the client sees). */
export class SchemaLimitError extends SchemaError {
  override name = "SchemaLimitError";
  constructor(message: string, readonly code: "schema_too_deep" | "schema_too_large" | "schema_too_wide" | "grammar_too_large") {
    super(message);
  }
}

/** The server's bounds on a json_schema; the names are the config's (src/config.ts). */
export type SchemaLimits = Pick<Config, "maxSchemaDepth" | "maxSchemaBytes" | "maxSchemaAlternatives" | "maxGrammarBytes">;

const limitText = (setting: keyof SchemaLimits, limits: SchemaLimits) => `--${SETTINGS[setting].flag} ${limits[setting]}`;

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
  return `"${text.replace(/[\\"\n\r\t]/g, (c) => ESCAPES[c]!)}"`;
}
const ESCAPES: Record<string, string> = { "\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t" };

type Schema = Record<string, unknown>;

const utf8Length = (s: string) => Buffer.byteLength(s, "utf8");

/**
 * Throws SchemaLimitError when the schema, as compact JSON, nests objects and arrays deeper than
 * maxSchemaDepth or is longer than maxSchemaBytes. It walks an explicit stack and stops at the
 * first excess: a schema nested 30,000 deep is refused here instead of overflowing the JS stack
 * (or llama.cpp's parser) later.
 */
function checkSchema(schema: unknown, limits: SchemaLimits): void {
  const values: unknown[] = [schema];
  const depths: number[] = [1];
  let bytes = 0;
  const add = (n: number) => {
    bytes += n;
    if (bytes > limits.maxSchemaBytes) {
      throw new SchemaLimitError(
        `the schema is larger than ${limits.maxSchemaBytes} bytes as JSON, the most this server accepts (${limitText("maxSchemaBytes", limits)})`,
        "schema_too_large");
    }
  };
  while (values.length > 0) {
    const v = values.pop();
    const depth = depths.pop()!;
    if (typeof v !== "object" || v === null) {
      add(typeof v === "string" ? utf8Length(JSON.stringify(v)) : String(JSON.stringify(v)).length);
      continue;
    }
    if (depth > limits.maxSchemaDepth) {
      throw new SchemaLimitError(
        `the schema nests objects and arrays more than ${limits.maxSchemaDepth} levels deep, the most this server accepts (${limitText("maxSchemaDepth", limits)})`,
        "schema_too_deep");
    }
    // the opening bracket; each entry then pays for the comma or closing bracket after it
    add(1);
    let entries = 0;
    if (Array.isArray(v)) {
      for (const c of v) {
        add(1);
        values.push(c);
        depths.push(depth + 1);
      }
      entries = v.length;
    } else {
      for (const k in v) {
        add(utf8Length(JSON.stringify(k)) + 2); // "key": and the separator
        values.push((v as Schema)[k]);
        depths.push(depth + 1);
        entries++;
      }
    }
    if (entries === 0) add(1);
  }
}

/** minLength, maxLength, minItems, maxItems: a non-negative integer, or absent when not a number. */
function bound(s: Schema, key: string, hint: string): number | undefined {
  const v = s[key];
  if (typeof v !== "number") return undefined;
  if (!Number.isSafeInteger(v) || v < 0) throw new SchemaError(`${hint}: ${key} must be a non-negative integer`);
  return v;
}

// Hints name rules and errors after the path to a subschema. Keys are the client's: a path of
// long keys must not make every rule name (and every reference to it) long, so its tail is kept.
const HINT_MAX = 48;
function sub(hint: string, part: string | number): string {
  const h = `${hint}-${part}`;
  return h.length <= HINT_MAX ? h : h.slice(-HINT_MAX);
}

const RULE_NAME = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/;

class Builder {
  readonly rules = new Map<string, string>();
  readonly #refs = new Map<string, string>();
  readonly #pending: [name: string, target: unknown][] = []; // $defs targets still to convert
  readonly #nextSuffix = new Map<string, number>(); // per name base, so a repeated name costs O(1)
  #bytes = 0; // grammar text so far, bounded repetitions counted as expanded
  #alternatives = 0; // enum / anyOf / oneOf entries so far

  /** limits null: no bound on the grammar (json_object's fixed grammar). */
  constructor(readonly limits: SchemaLimits | null) {}

  #root: Schema = {}; // the document being converted: its $ref targets

  /** Throws SchemaLimitError if `more` bytes would take the grammar past maxGrammarBytes. */
  #fits(more: number): void {
    if (this.limits && this.#bytes + more > this.limits.maxGrammarBytes) {
      throw new SchemaLimitError(
        `the schema's grammar would be larger than ${this.limits.maxGrammarBytes} bytes (bounded repetitions counted as expanded), the most this server accepts (${limitText("maxGrammarBytes", this.limits)})`,
        "grammar_too_large");
    }
  }

  /** llama.cpp's grammar sampler checks every vocabulary token against every open alternative
   *  at each step (an enum of 5000 strings: ~4 s per token on Gemma 3 270M, 1 thread), so the
   *  entries of all alternations are bounded; they bound the alternatives open at once too, as
   *  nested ones are counted at every level. */
  #alternate(n: number): void {
    this.#alternatives += n;
    if (this.limits && this.#alternatives > this.limits.maxSchemaAlternatives) {
      throw new SchemaLimitError(
        `the schema has more than ${this.limits.maxSchemaAlternatives} enum / anyOf / oneOf entries in all, the most this server accepts (${limitText("maxSchemaAlternatives", this.limits)})`,
        "schema_too_wide");
    }
  }

  #spend(bytes: number): void {
    this.#fits(bytes);
    this.#bytes += bytes;
  }

  /** parts joined by sep, measured against the budget before the string is built. */
  #join(parts: readonly string[], sep: string): string {
    let length = sep.length * Math.max(0, parts.length - 1);
    for (const p of parts) length += p.length;
    this.#fits(length);
    return parts.join(sep);
  }

  /** x{min,max}: llama.cpp expands it into max (or min + 1) copies of x, so that is its cost. */
  #repeat(x: string, min: number, max: number | undefined): string {
    this.#spend(x.length * ((max ?? min + 1) - 1));
    return `${x}{${min},${max ?? ""}}`;
  }

  #define(name: string, body: string): void {
    this.#spend(name.length + body.length + 6); // "name ::= body\n"
    this.rules.set(name, body);
  }

  /** Rule name for a primitive, pulling in what it depends on. */
  prim(name: string): string {
    if (!this.rules.has(name)) {
      this.#define(name, PRIMITIVES[name]!);
      for (const d of DEPS[name]!) this.prim(d);
    }
    return name;
  }

  /** A new, still empty rule with a unique name derived from hint. */
  #reserve(hint: string): string {
    const base = RULE_NAME.test(hint) ? hint : hint.replace(/[^a-zA-Z0-9-]+/g, "-").replace(/^-+|-+$/g, "").toLowerCase() || "r";
    for (let i = this.#nextSuffix.get(base) ?? 1; ; i++) {
      const name = i > 1 ? `${base}-${i}` : base in PRIMITIVES ? `${base}-1` : base;
      if (!this.rules.has(name)) {
        this.#nextSuffix.set(base, i + 1);
        this.rules.set(name, "");
        return name;
      }
    }
  }

  /** A new rule with a unique name derived from hint. */
  rule(hint: string, body: string): string {
    const name = this.#reserve(hint);
    this.#define(name, body);
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
      this.#alternate(s.enum.length);
      return `(${this.#join(s.enum.map((v) => gbnfLiteral(JSON.stringify(v))), " | ")})`;
    }
    const alts = (s.anyOf ?? s.oneOf) as unknown;
    if (alts !== undefined) {
      if (!Array.isArray(alts) || alts.length === 0) throw new SchemaError(`${hint}: anyOf/oneOf must be a non-empty array`);
      this.#alternate(alts.length);
      return `(${this.#join(alts.map((a, i) => this.visit(a, sub(hint, i))), " | ")})`;
    }
    if (s.allOf !== undefined) {
      if (!Array.isArray(s.allOf) || s.allOf.length !== 1) throw new SchemaError(`${hint}: allOf is supported with one schema only`);
      return this.visit(s.allOf[0], hint);
    }

    const type = s.type ?? (s.properties ? "object" : s.items || s.prefixItems ? "array" : undefined);
    if (type === undefined) return this.prim("value");
    if (Array.isArray(type)) return `(${this.#join([...new Set(type)].map((t) => this.#typed(s, t, hint)), " | ")})`;
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
    const known = this.#refs.get(ref);
    if (known) return known;
    const m = /^#\/(\$defs|definitions)\/(.+)$/.exec(ref);
    if (!m) throw new SchemaError(`$ref '${ref}': only #/$defs/... and #/definitions/... are supported`);
    const defs = this.#root[m[1]!];
    const target = typeof defs === "object" && defs !== null && Object.hasOwn(defs, m[2]!) ? (defs as Schema)[m[2]!] : undefined;
    if (target === undefined) throw new SchemaError(`$ref '${ref}' points to nothing`);
    // named now, so recursive schemas refer back to it; converted later from the work list
    // (grammar()), so a chain of references does not nest calls
    const name = this.#reserve(sub("def", m[2]!));
    this.#refs.set(ref, name);
    this.#pending.push([name, target]);
    return name;
  }

  #string(s: Schema, hint: string): string {
    const min = bound(s, "minLength", hint) ?? 0;
    const max = bound(s, "maxLength", hint);
    if (min === 0 && max === undefined) return this.prim("string");
    if (max !== undefined && max < min) throw new SchemaError(`${hint}: maxLength < minLength`);
    return this.rule(sub(hint, "string"), `"\\"" ${this.#repeat(this.prim("char"), min, max)} "\\""`);
  }

  #object(s: Schema, hint: string): string {
    const props = (s.properties ?? {}) as Record<string, unknown>;
    const keys = Object.keys(props);
    const required = new Set(Array.isArray(s.required) ? (s.required as string[]) : []);
    for (const k of required) if (!Object.hasOwn(props, k)) throw new SchemaError(`${hint}: required property '${k}' is not in properties`);
    const ws = this.prim("ws");
    const member = (key: string) => {
      const h = sub(hint, key);
      return this.rule(sub(h, "kv"), `${gbnfLiteral(JSON.stringify(key))} ${ws} ":" ${ws} ${this.visit(props[key], h)}`);
    };
    const req = keys.filter((k) => required.has(k)).map(member);
    const opt = keys.filter((k) => !required.has(k)).map(member);

    const ap = s.additionalProperties;
    let extra: string | null = null;
    if (ap === true || (typeof ap === "object" && ap !== null)) {
      extra = this.rule(sub(hint, "extra-kv"), `${this.prim("string")} ${ws} ":" ${ws} ${this.visit(ap, sub(hint, "extra"))}`);
    } else if (ap === undefined && keys.length === 0) {
      return this.prim("object");
    }
    const sep = (x: string) => `${ws} "," ${ws} ${x}`;
    const then = (x: string, rest: string) => (rest ? `${x} ${rest}` : x);
    const extras = extra ? `( ${sep(extra)} )*` : "";

    let body: string;
    if (req.length > 0) {
      body = this.#join([req[0]!, ...req.slice(1).map(sep), ...opt.map((o) => `( ${sep(o)} )?`), extras].filter((x) => x !== ""), " ");
    } else {
      // No required key: the object starts with any optional key (or an extra), then the later
      // ones. `rest` is "the optional keys after this one, each may be missing"; it is a rule
      // where two places use it, so the grammar grows linearly with the keys, not quadratically.
      const starts: string[] = [];
      let rest = extras;
      for (let i = opt.length - 1; i >= 0; i--) {
        starts.push(`( ${then(opt[i]!, rest)} )`);
        if (i === 0) break;
        const tail = then(`( ${sep(opt[i]!)} )?`, rest);
        rest = i >= 2 ? this.rule(sub(hint, "rest"), tail) : tail;
      }
      starts.reverse();
      if (extra) starts.push(`( ${then(extra, extras)} )`);
      body = starts.length ? `( ${this.#join(starts, " | ")} )?` : "";
    }
    return this.rule(sub(hint, "object"), body ? `"{" ${ws} ${body} ${ws} "}"` : `"{" ${ws} "}"`);
  }

  #array(s: Schema, hint: string): string {
    const ws = this.prim("ws");
    const sep = (x: string) => `${ws} "," ${ws} ${x}`;
    if (Array.isArray(s.prefixItems)) {
      const items = s.prefixItems.map((p, i) => this.visit(p, sub(hint, i)));
      const body = items.length ? this.#join([items[0]!, ...items.slice(1).map(sep)], " ") + ` ${ws} ` : "";
      return this.rule(sub(hint, "tuple"), `"[" ${ws} ${body}"]"`);
    }
    const min = bound(s, "minItems", hint) ?? 0;
    const max = bound(s, "maxItems", hint);
    if (max !== undefined && max < min) throw new SchemaError(`${hint}: maxItems < minItems`);
    if (max === 0) return this.rule(sub(hint, "array"), `"[" ${ws} "]"`);
    let item = this.visit(s.items ?? true, sub(hint, "item"));
    // the item is written twice and repeated: an inline alternation or literal gets a rule of its own
    if (!RULE_NAME.test(item)) item = this.rule(sub(hint, "item"), item);
    const rest = this.#repeat(`( ${sep(item)} )`, Math.max(0, min - 1), max === undefined ? undefined : max - 1);
    const list = `${item} ${rest} ${ws}`;
    return this.rule(sub(hint, "array"), min === 0 ? `"[" ${ws} ( ${list} )? "]"` : `"[" ${ws} ${list} "]"`);
  }

  /** The expression of a whole document (a schema whose $refs point inside it), with its $defs
   *  targets converted as they come up. */
  document(schema: unknown, hint: string): string {
    this.#root = typeof schema === "object" && schema !== null ? (schema as Schema) : {};
    this.#refs.clear(); // "#/$defs/x" of another document is another rule
    const expr = this.visit(schema, hint);
    for (let p = this.#pending.pop(); p; p = this.#pending.pop()) this.#define(p[0], this.visit(p[1], p[0]));
    return expr;
  }

  /** The grammar text: root ::= root, then every rule. */
  grammar(root: string): string {
    this.#spend(root.length + 10); // "root ::= ...\n"
    const lines = [`root ::= ${root}`];
    for (const [name, body] of this.rules) lines.push(`${name} ::= ${body}`);
    return lines.join("\n") + "\n";
  }
}

/** Grammar for any JSON object (response_format json_object). */
export function jsonObjectGrammar(): string {
  const b = new Builder(null);
  return b.grammar(b.document({ type: "object" }, "root"));
}

/**
 * Grammar for a JSON Schema (response_format json_schema). Throws SchemaError, or
 * SchemaLimitError when the schema or its grammar is over `limits`.
 */
export function jsonSchemaGrammar(schema: unknown, limits: SchemaLimits): string {
  if (typeof schema !== "object" || schema === null) throw new SchemaError("the schema must be a JSON object");
  checkSchema(schema, limits);
  const b = new Builder(limits);
  return b.grammar(b.document(schema, "root"));
}

/**
 * One grammar over several schemas (tool calling: one per function), each a document of its own
 * ($refs resolve inside it): root ::= top(exprs), exprs[i] the GBNF expression of schemas[i],
 * rules named after hints[i]. The limits hold for all the schemas together, as for one.
 */
export function schemasGrammar(schemas: readonly unknown[], hints: readonly string[], limits: SchemaLimits, top: (exprs: string[]) => string): string {
  for (const s of schemas) if (typeof s !== "object" || s === null) throw new SchemaError("the schema must be a JSON object");
  checkSchema(schemas, limits);
  const b = new Builder(limits);
  const exprs = schemas.map((s, i) => b.document(s, hints[i]!));
  return b.grammar(top(exprs));
}
