// wire.ts - a raw HTTP/1.1 client over node:net for bench/hostile.ts: it writes exact bytes
// (broken framing, half bodies, pauses between pieces) and reads back one response, deciding
// from the response's own framing when it is complete. fetch() would repair the requests this
// bench exists to send, and would wait forever on a server that keeps a connection open.
import { connect } from "node:net";

/** Wait delayMs, then write bytes; end: then half-close (FIN), still reading the answer. */
export interface Piece {
  bytes: Uint8Array;
  delayMs: number;
  end?: boolean;
}

export interface Exchange {
  status: number | null; // null: no complete status line came back
  headers: Map<string, string>; // lower-case names; repeated headers joined with ", "
  body: Buffer; // de-chunked; what arrived if the response was cut
  /** complete: the response's framing says it is whole; closed: the server closed before that;
   *  timeout: neither within timeoutMs; stopped: we closed it (stopAfterEvents); refused: no
   *  connection (the server is gone). */
  end: "complete" | "closed" | "timeout" | "stopped" | "refused";
  ms: number; // from connect to the end
}

export interface ExchangeOptions {
  host: string;
  port: number;
  timeoutMs: number;
  head?: boolean; // a HEAD request: the response has headers only
  /** Close the socket once this many SSE events arrived (a client that goes away mid-stream). */
  stopAfterEvents?: number;
}

const CRLF2 = Buffer.from("\r\n\r\n");

interface Parsed {
  status: number;
  headers: Map<string, string>;
  body: Buffer;
  done: boolean;
}

/** Decodes a chunked body as far as it has arrived. null: the framing is broken. */
function dechunk(buf: Buffer): { body: Buffer; done: boolean } | null {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = buf.indexOf("\r\n", at);
    if (eol < 0) return { body: Buffer.concat(parts), done: false };
    const size = Number.parseInt(buf.subarray(at, eol).toString("latin1").split(";")[0]!.trim(), 16);
    if (!Number.isFinite(size) || size < 0) return null;
    if (size === 0) return { body: Buffer.concat(parts), done: buf.indexOf(CRLF2, eol - 2) >= 0 };
    if (buf.length < eol + 2 + size + 2) {
      parts.push(buf.subarray(eol + 2, Math.min(buf.length, eol + 2 + size)));
      return { body: Buffer.concat(parts), done: false };
    }
    parts.push(buf.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
}

/** The response in buf so far (interim 1xx responses skipped); null before its headers are in. */
function parse(buf: Buffer, head: boolean, closed: boolean): Parsed | null {
  let start = 0;
  for (;;) {
    const end = buf.indexOf(CRLF2, start);
    if (end < 0) return null;
    const lines = buf.subarray(start, end).toString("latin1").split("\r\n");
    const m = /^HTTP\/\d\.\d (\d{3})/.exec(lines[0]!);
    if (!m) return null;
    const status = Number(m[1]);
    if (status >= 100 && status < 200) {
      start = end + 4;
      continue;
    }
    const headers = new Map<string, string>();
    for (const line of lines.slice(1)) {
      const i = line.indexOf(":");
      if (i <= 0) continue;
      const k = line.slice(0, i).trim().toLowerCase();
      const v = line.slice(i + 1).trim();
      headers.set(k, headers.has(k) ? `${headers.get(k)}, ${v}` : v);
    }
    const rest = buf.subarray(end + 4);
    if (head || status === 204 || status === 304) return { status, headers, body: Buffer.alloc(0), done: true };
    if (/chunked/i.test(headers.get("transfer-encoding") ?? "")) {
      const d = dechunk(rest);
      return d ? { status, headers, ...d } : { status, headers, body: rest, done: closed };
    }
    const cl = headers.get("content-length");
    if (cl !== undefined) {
      const n = Number(cl);
      return { status, headers, body: rest.subarray(0, n), done: rest.length >= n };
    }
    return { status, headers, body: rest, done: closed }; // read until close
  }
}

const countEvents = (body: Buffer) => body.toString("utf8").split("\n\n").length - 1;

/** Sends the pieces on a fresh connection and reads one response. Never rejects. */
export function exchange(pieces: Piece[], opts: ExchangeOptions): Promise<Exchange> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let settled = false;
    const socket = connect({ host: opts.host, port: opts.port, allowHalfOpen: true });
    const finish = (end: Exchange["end"]) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      const p = parse(Buffer.concat(chunks), opts.head ?? false, true);
      resolve({
        status: p?.status ?? null,
        headers: p?.headers ?? new Map(),
        body: p?.body ?? Buffer.alloc(0),
        end,
        ms: performance.now() - t0,
      });
    };
    const timer = setTimeout(() => finish("timeout"), opts.timeoutMs);
    socket.on("data", (d: Buffer) => {
      chunks.push(d);
      const p = parse(Buffer.concat(chunks), opts.head ?? false, false);
      if (!p) return;
      if (p.done) finish("complete");
      else if (opts.stopAfterEvents !== undefined && countEvents(p.body) >= opts.stopAfterEvents) finish("stopped");
    });
    let connected = false;
    socket.on("connect", async () => {
      connected = true;
      for (const piece of pieces) {
        if (piece.delayMs > 0) await Bun.sleep(piece.delayMs);
        if (settled || socket.destroyed || !socket.writable) return;
        socket.write(piece.bytes);
        if (piece.end) socket.end();
      }
    });
    // a server that answers and closes before the whole request is written resets the rest:
    // the answer still counts
    const gone = () => finish(parse(Buffer.concat(chunks), opts.head ?? false, true)?.done ? "complete" : connected ? "closed" : "refused");
    socket.on("error", gone);
    socket.on("end", gone); // the server's FIN (the socket is half-open so that a piece can send its own)
    socket.on("close", gone);
  });
}
