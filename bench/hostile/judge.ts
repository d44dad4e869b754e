// judge.ts - the verdict on one answer in bench/hostile.ts: the rules every answer keeps (no 5xx,
// an answer within the time limit, OpenAI error bodies, SSE streams that end with [DONE] or an
// error event) and what the case itself expects (a refusal, a 408, no CORS grant to a foreign
// origin). Answers to broken framing may come from Bun's HTTP parser, which the app never sees:
// those may have an empty body.
import type { Expect } from "./cases.ts";
import type { Exchange } from "./wire.ts";

export type FailureKind = "5xx" | "hang" | "bad-body" | "stream" | "no-answer" | "expect";

export interface Finding {
  kind: FailureKind;
  detail: string;
}

const clip = (s: string, n = 160) => (s.length > n ? `${s.slice(0, n)}...` : s);

/** {"error": {"message": string, "type": string, "param": string|null, "code": string|null}} */
export function isOpenAiError(x: unknown): boolean {
  const e = (x as { error?: unknown } | null)?.error as Record<string, unknown> | undefined;
  if (typeof e !== "object" || e === null) return false;
  const nullableString = (k: string) => k in e && (e[k] === null || typeof e[k] === "string");
  return typeof e.message === "string" && typeof e.type === "string" && nullableString("param") && nullableString("code");
}

function parseJson(s: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(s) };
  } catch {
    return { ok: false };
  }
}

/** An SSE body: every data event JSON or [DONE], error events OpenAI-shaped, and (when the
 *  stream is whole) the last event [DONE] or an error. */
function checkStream(text: string, whole: boolean): Finding[] {
  const out: Finding[] = [];
  const events = text.split("\n\n").filter((e) => e.trim() !== "");
  let last: "done" | "error" | "chunk" | null = null;
  for (const ev of events) {
    const data = ev.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trimStart()).join("\n");
    if (!data) continue; // a comment or a field without data
    if (last === "done" || last === "error") out.push({ kind: "stream", detail: `event after ${last === "done" ? "[DONE]" : "the error event"}: ${clip(data, 80)}` });
    if (data === "[DONE]") {
      last = "done";
      continue;
    }
    const j = parseJson(data);
    if (!j.ok) {
      out.push({ kind: "stream", detail: `event is not JSON: ${clip(data, 80)}` });
      last = "chunk";
      continue;
    }
    if (typeof j.value === "object" && j.value !== null && "error" in j.value) {
      last = "error";
      if (!isOpenAiError(j.value)) out.push({ kind: "bad-body", detail: `error event not OpenAI-shaped: ${clip(data)}` });
      else if ((j.value as { error: { type: string } }).error.type === "server_error") out.push({ kind: "5xx", detail: `server_error event in the stream: ${clip(data)}` });
    } else {
      last = "chunk";
    }
  }
  if (whole && last !== "done" && last !== "error") out.push({ kind: "stream", detail: `stream ended without [DONE] or an error event (${events.length} events)` });
  return out;
}

/** head: the answer to a HEAD request, which has no body. */
export function judge(x: Exchange, e: Expect, head = false): Finding[] {
  const ms = Math.round(x.ms);
  if (x.end === "timeout") {
    const started = x.status === null ? "" : ` (status ${x.status} came, the body did not end)`;
    return [{ kind: "hang", detail: `no answer in ${ms} ms${started}` }];
  }
  if (x.status === null) {
    if (!e.closeOk) return [{ kind: "no-answer", detail: `connection closed after ${ms} ms without an answer` }];
    return e.withinMs !== undefined && x.ms > e.withinMs ? [{ kind: "expect", detail: `closed after ${ms} ms (limit ${e.withinMs} ms)` }] : [];
  }
  const out: Finding[] = [];
  const text = x.body.toString("utf8");
  const type = x.headers.get("content-type") ?? "";
  const s = x.status;
  // 505 is how an HTTP parser refuses an unknown version: the client's fault, despite its class
  if (s >= 500 && !(e.raw && s === 505)) out.push({ kind: "5xx", detail: `${s} ${clip(text)}` });
  if (s >= 200 && s < 300) {
    if (type.startsWith("text/event-stream")) {
      if (x.end === "closed") out.push({ kind: "stream", detail: `stream cut by the server after ${ms} ms` });
      out.push(...checkStream(text, x.end === "complete"));
    } else if (type.startsWith("application/json") && x.end === "complete" && !head && !parseJson(text).ok) {
      out.push({ kind: "bad-body", detail: `${s} body is not JSON: ${clip(text)}` });
    }
  } else if (!(e.raw && x.body.length === 0)) {
    const j = parseJson(text);
    if (x.end !== "complete") out.push({ kind: "no-answer", detail: `${s} answer cut after ${ms} ms` });
    else if (!j.ok || !isOpenAiError(j.value)) out.push({ kind: "bad-body", detail: `${s} ${type || "(no type)"} ${clip(JSON.stringify(text), 120)}` });
  }
  if (e.refuse && (s < 400 || s >= 500)) out.push({ kind: "expect", detail: `status ${s}, should be refused with a 4xx` });
  if (e.statuses && !e.statuses.includes(s)) out.push({ kind: "expect", detail: `status ${s}, expected ${e.statuses.join(" or ")}: ${clip(text, 100)}` });
  if (e.withinMs !== undefined && x.ms > e.withinMs) out.push({ kind: "expect", detail: `answered after ${ms} ms (limit ${e.withinMs} ms)` });
  const acao = x.headers.get("access-control-allow-origin");
  if (e.foreignOrigin && (acao === "*" || acao === e.foreignOrigin)) {
    out.push({ kind: "expect", detail: `Access-Control-Allow-Origin: ${acao} grants ${e.foreignOrigin}` });
  }
  return out;
}
