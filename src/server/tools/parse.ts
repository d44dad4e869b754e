// tools/parse.ts - the model's output text to content and tool calls, incrementally: push() the
// text as it is generated, finish() at the end; the events stream as `delta.tool_calls` (a call's
// id and name first, then fragments of its arguments as they are written) and, concatenated,
// make the whole message. One parser serves both, so streamed and whole responses agree.
// Over 300 lines because it is one state machine (text, open, list, object, close) fed a character at a time.
//
// A call is a JSON object with a string "name" and its arguments (tools/format.ts: the format's
// key; a JSON-encoded string is decoded), after the format's opening marker, or where the
// format allows, first in the output or right after a call (then its first key must be "name"
// or "type" and the name one of the tools'). Text that only looked like the start of a call
// (a marker followed by something else, an object without a name) goes out as content, late but
// whole. Whitespace around calls is dropped; output without calls comes back as content exactly.
import { randomBytes } from "node:crypto";
import type { ToolFormat } from "./format.ts";

export type ToolEvent =
  | { kind: "content"; text: string }
  | { kind: "call"; index: number; id: string; name: string }
  | { kind: "arguments"; index: number; text: string };

const BASE62 = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

/** "call_" and 24 random alphanumerics, as OpenAI's ids look. */
export function newCallId(): string {
  return "call_" + [...randomBytes(24)].map((b) => BASE62[b % 62]).join("");
}

const isWs = (ch: string) => ch === " " || ch === "\n" || ch === "\t" || ch === "\r";

/** Scans one JSON object character by character, keeping its "name" and streaming its arguments
 *  (shape legend: depth 1 = the call object's own keys, 2+ = inside a value). */
class CallObject {
  name: string | null = null;
  firstKey: string | null = null;
  args = ""; // arguments text not yet taken by the parser
  argsSeen = false; // the arguments' value has begun
  done = false;
  error = false;
  #depth = 0;
  #inString = false;
  #escaped = false;
  #phase: "key" | "colon" | "value" | "scalar" | "after" = "key";
  #key = "";
  #captured = ""; // the key or the value being read
  #isArgs = false; // the value being read is the arguments
  #streamed = false; // ... and an object or array: its text goes to args as it comes

  constructor(readonly argsKey: string) {}

  push(ch: string): void {
    if (this.#depth === 0) {
      if (ch === "{") this.#depth = 1;
      else this.error = true;
      return;
    }
    if (this.#inString || this.#depth > 1) return this.#inValue(ch);
    if (this.#phase === "scalar") {
      if (ch !== "," && ch !== "}" && !isWs(ch)) return this.#take(ch);
      this.#endValue();
    }
    if (isWs(ch)) return;
    switch (this.#phase) {
      case "key":
        if (ch === '"') {
          this.#inString = true;
          this.#captured = ch;
        } else if (ch === "}") this.done = true;
        else this.error = true;
        return;
      case "colon":
        if (ch === ":") this.#phase = "value";
        else this.error = true;
        return;
      case "value":
        this.#captured = "";
        this.#isArgs = this.#key === this.argsKey && !this.argsSeen;
        this.argsSeen ||= this.#isArgs;
        this.#streamed = this.#isArgs && (ch === "{" || ch === "[");
        if (ch === '"') this.#inString = true;
        else if (ch === "{" || ch === "[") this.#depth = 2;
        else this.#phase = "scalar";
        return this.#take(ch);
      case "after":
        if (ch === ",") this.#phase = "key";
        else if (ch === "}") this.done = true;
        else this.error = true;
        return;
    }
  }

  #take(ch: string): void {
    if (this.#streamed) this.args += ch;
    else this.#captured += ch;
  }

  #inValue(ch: string): void {
    this.#take(ch);
    if (this.#inString) {
      if (this.#escaped) this.#escaped = false;
      else if (ch === "\\") this.#escaped = true;
      else if (ch === '"') {
        this.#inString = false;
        if (this.#depth === 1) this.#phase === "key" ? this.#endKey() : this.#endValue();
      }
      return;
    }
    if (ch === '"') this.#inString = true;
    else if (ch === "{" || ch === "[") this.#depth++;
    else if (ch === "}" || ch === "]") {
      this.#depth--;
      if (this.#depth === 1) this.#endValue();
    }
  }

  #endKey(): void {
    this.#key = this.#decode(this.#captured) as string;
    this.firstKey ??= this.#key;
    this.#phase = "colon";
  }

  #endValue(): void {
    this.#phase = "after";
    if (this.#key === "name") {
      const v = this.#decode(this.#captured);
      if (typeof v === "string" && v) this.name = v;
      else this.error = true;
    } else if (this.#isArgs && !this.#streamed) {
      const v = this.#decode(this.#captured);
      this.args += typeof v === "string" ? v : this.#captured; // arguments given as a JSON string
    }
    this.#isArgs = this.#streamed = false;
  }

  #decode(text: string): unknown {
    try {
      return JSON.parse(text);
    } catch {
      this.error = true;
      return null;
    }
  }
}

type State = "text" | "open" | "list" | "object" | "close";

export interface ToolParserOptions {
  /** Keep every call (true) or the first only (parallel_tool_calls: false). */
  parallel: boolean;
  /** The functions a call without the marker may name (all names when absent). */
  names?: ReadonlySet<string>;
  newId?: () => string;
}

export class ToolCallParser {
  readonly #format: ToolFormat;
  readonly #parallel: boolean;
  readonly #names: ReadonlySet<string> | null;
  readonly #newId: () => string;
  #events: ToolEvent[] = [];
  #pending = ""; // input not yet consumed
  #pos = 0;
  #state: State = "text";
  #atStart = true; // only whitespace since the start or the last call: a bare call may start here
  #ws = ""; // trailing whitespace of the content, held: dropped if a call follows
  #afterCall = false; // whitespace right after a call is dropped too
  #raw = ""; // text of the current region since its start or last call: content if it fails
  #bare = false; // the region started without the marker: it must begin with "name" or "type"
  #inList = false; // mistral: calls inside [ ... ]
  #obj: CallObject | null = null;
  #committed = false; // the current object's call event went out
  #calls = 0;

  constructor(format: ToolFormat, opts: ToolParserOptions) {
    this.#format = format;
    this.#parallel = opts.parallel;
    this.#names = opts.names ?? null;
    this.#newId = opts.newId ?? newCallId;
  }

  /** Calls found so far (also those dropped when parallel is false). */
  get calls(): number {
    return this.#calls;
  }

  push(text: string): ToolEvent[] {
    this.#pending = this.#pending.slice(this.#pos) + text;
    this.#pos = 0;
    this.#run(false);
    return this.#take();
  }

  /** End of output: what was held is resolved (an unfinished call keeps what it streamed). */
  finish(): ToolEvent[] {
    this.#run(true);
    if (this.#state !== "text" && this.#state !== "close" && !this.#committed) this.#rollback();
    else if (this.#obj && this.#committed) this.#endCall();
    this.#state = "text";
    if (this.#calls === 0) this.#content(this.#ws, true);
    this.#ws = "";
    return this.#take();
  }

  #take(): ToolEvent[] {
    const out = this.#events;
    this.#events = [];
    return out;
  }

  #emit(e: ToolEvent): void {
    if (e.kind !== "content" && e.index > 0 && !this.#parallel) return;
    const last = this.#events.at(-1);
    if (last?.kind === "content" && e.kind === "content") last.text += e.text;
    else if (last?.kind === "arguments" && e.kind === "arguments" && last.index === e.index) last.text += e.text;
    else this.#events.push(e);
  }

  /** Content text; whitespace at its end is held until more content (or the end) shows it is
   *  not just the gap before a call. */
  #content(text: string, flush = false): void {
    if (!text) return;
    if (flush) {
      this.#emit({ kind: "content", text });
      return;
    }
    if (this.#afterCall) {
      text = text.trimStart();
      if (!text) return;
      this.#afterCall = false;
    }
    const body = text.trimEnd();
    if (!body) {
      this.#ws += text;
      return;
    }
    this.#emit({ kind: "content", text: this.#ws + body });
    this.#ws = text.slice(body.length);
    this.#atStart = false;
  }

  #run(final: boolean): void {
    while (this.#pos < this.#pending.length) {
      if (this.#state === "text") {
        if (!this.#scanText(final)) return;
        continue;
      }
      if (this.#state === "close" && !this.#scanClose(final)) return;
      const now = this.#state as State; // #scanClose may have moved it on
      if (now === "text" || now === "close") continue;
      const ch = this.#pending[this.#pos++]!;
      this.#raw += ch;
      this.#step(ch);
    }
  }

  /** Text state: content up to the next marker (or a bare start). False: waiting for input. */
  #scanText(final: boolean): boolean {
    const rest = this.#pending.slice(this.#pos);
    const { open, bare } = this.#format;
    if (this.#atStart && bare) {
      const lead = rest.length - rest.trimStart().length;
      if (lead === rest.length) {
        this.#content(rest); // whitespace only: held
        this.#pos = this.#pending.length;
        return false;
      }
      const head = rest.slice(lead);
      if (open.startsWith(head) && !final) return false; // the marker's text, maybe
      if (rest[lead] === bare && !head.startsWith(open)) {
        this.#content(rest.slice(0, lead));
        this.#pos += lead;
        this.#startRegion("", true);
        return true;
      }
    }
    const at = rest.indexOf(open);
    if (at >= 0) {
      this.#content(rest.slice(0, at));
      this.#pos += at + open.length;
      this.#startRegion(open, false);
      return true;
    }
    // hold a tail that may be the start of the marker
    let keep = final ? 0 : Math.min(open.length - 1, rest.length);
    while (keep > 0 && !open.startsWith(rest.slice(rest.length - keep))) keep--;
    this.#content(rest.slice(0, rest.length - keep));
    this.#pos += rest.length - keep;
    return false;
  }

  #startRegion(marker: string, bare: boolean): void {
    this.#raw = marker;
    this.#bare = bare;
    this.#inList = false;
    this.#committed = false;
    this.#state = "open";
  }

  /** One character of a call region. */
  #step(ch: string): void {
    switch (this.#state) {
      case "open":
        if (isWs(ch)) return;
        if (ch === "[" && this.#format.name === "mistral" && !this.#inList) {
          this.#inList = true;
          this.#state = "list";
          return;
        }
        return ch === "{" ? this.#startObject() : this.#rollback();
      case "list":
        if (isWs(ch) || ch === ",") return;
        if (ch === "]") return this.#toText();
        return ch === "{" ? this.#startObject() : this.#rollback();
      case "object":
        return this.#objectChar(ch);
    }
  }

  #startObject(): void {
    this.#obj = new CallObject(this.#format.argsKey);
    this.#obj.push("{");
    this.#state = "object";
  }

  #objectChar(ch: string): void {
    const obj = this.#obj!;
    obj.push(ch);
    if (this.#bare && obj.firstKey !== null && obj.firstKey !== "name" && obj.firstKey !== "type") return this.#rollback();
    if (obj.error && !this.#committed) return this.#rollback();
    if (obj.error) {
      this.#endCall(); // what it streamed stays; the rest is text
      return this.#toText();
    }
    if (obj.name !== null && !this.#committed) {
      if (this.#bare && this.#names && !this.#names.has(obj.name)) return this.#rollback();
      this.#committed = true;
      this.#ws = ""; // the gap before a call is not content
      this.#atStart = false;
      this.#emit({ kind: "call", index: this.#calls, id: this.#newId(), name: obj.name });
    }
    if (this.#committed && obj.args) {
      this.#emit({ kind: "arguments", index: this.#calls, text: obj.args });
      obj.args = "";
    }
    if (!obj.done) return;
    if (!this.#committed) return this.#rollback();
    this.#endCall();
    this.#state = this.#inList ? "list" : "close";
  }

  /** The current call is complete: arguments "{}" when it had none. */
  #endCall(): void {
    if (!this.#obj!.argsSeen) this.#emit({ kind: "arguments", index: this.#calls, text: "{}" });
    this.#calls++;
    this.#afterCall = true;
    this.#atStart = true;
    this.#obj = null;
    this.#raw = "";
    this.#committed = false;
  }

  /** After a call: the closing marker, or (llama3) ";" and the next call. False: waiting. */
  #scanClose(final: boolean): boolean {
    const { close } = this.#format;
    while (this.#pos < this.#pending.length && isWs(this.#pending[this.#pos]!)) this.#pos++;
    if (this.#pos === this.#pending.length) return false;
    const rest = this.#pending.slice(this.#pos);
    if (close) {
      if (rest.startsWith(close)) this.#pos += close.length;
      else if (close.startsWith(rest) && !final) return false;
      this.#toText();
      return true;
    }
    // calls written one after another, "; " between (Llama 3)
    if (rest[0] === ";") this.#pos++;
    else if (rest[0] === "{") this.#startRegion("", false);
    else this.#toText();
    return true;
  }

  #toText(): void {
    this.#state = "text";
    this.#obj = null;
    this.#raw = "";
  }

  /** The region was not a call after all: its text is content. */
  #rollback(): void {
    const raw = this.#raw;
    this.#toText();
    this.#atStart = false;
    this.#content(raw);
  }
}

export interface ParsedToolCall {
  id: string;
  type: "function";
  function: { name: string; arguments: string };
}

/** Events folded into a message: its content (null when empty beside calls) and calls. */
export function collectToolEvents(events: readonly ToolEvent[]): { content: string | null; tool_calls: ParsedToolCall[] } {
  let content = "";
  const calls: ParsedToolCall[] = [];
  for (const e of events) {
    if (e.kind === "content") content += e.text;
    else if (e.kind === "call") calls[e.index] = { id: e.id, type: "function", function: { name: e.name, arguments: "" } };
    else calls[e.index]!.function.arguments += e.text;
  }
  return { content: calls.length && !content ? null : content, tool_calls: calls };
}
