// contestants.ts - the engines bench/peers.ts races, behind one interface: redrafter's HTTP
// server (`redrafter serve`), llama.cpp's llama-server, and node-llama-cpp in this process.
// Each run is one greedy completion of the same prompt text; each reports its text, its token
// count, the client's wall time and the generation phase timed by the engine itself.
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, mkdtempSync, symlinkSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { basename, join, resolve } from "node:path";
import {
  getLlama, InputLookupTokenPredictor, LlamaCompletion, LlamaLogLevel, type LlamaContext, type LlamaModel,
} from "node-llama-cpp";

export interface RunResult {
  text: string;
  tokens: number; // completion tokens
  wallMs: number; // request sent -> response complete (prefill included), as the client sees it
  genMs: number; // the generation phase by the engine's own clock (see each kind below)
  genTokens: number; // tokens genMs covers
  promptTokens: number;
  extra: Record<string, number>; // engine-specific counters (tau, drafts accepted, ...)
}

export interface Contestant {
  name: string; // e.g. "llama-server ngram-mod"
  family: "redrafter" | "llama-server" | "node-llama-cpp";
  plain: string; // the name of the same engine's plain decoding, for the identical-text count
  run(text: string, maxTokens: number): Promise<RunResult>;
}

export interface Shared {
  model: string; // GGUF path
  threads: number;
  ctxSize: number;
  logDir: string; // each server's stderr goes to <logDir>/<name>.log
}

const ROOT = resolve(import.meta.dir, "..", "..");

/** A port nobody listens on right now. */
async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once("error", rej);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => res(port));
    });
  });
}

/** A child process serving HTTP; killed by close(). */
export class Server {
  readonly #proc: ChildProcess;
  #exited: string | null = null;
  constructor(readonly name: string, readonly url: string, cmd: string, args: string[], log: string) {
    this.#proc = spawn(cmd, args, { stdio: ["ignore", "ignore", "pipe"] });
    const out = createWriteStream(log);
    this.#proc.stderr!.pipe(out);
    this.#proc.on("exit", (code, sig) => (this.#exited = `exited (${sig ?? code}); log: ${log}`));
  }

  /** Wait until GET /health answers 200 (both servers answer 503 while the model loads). */
  async ready(timeoutMs = 180_000): Promise<void> {
    const until = performance.now() + timeoutMs;
    while (performance.now() < until) {
      if (this.#exited) throw new Error(`${this.name} ${this.#exited}`);
      const r = await fetch(`${this.url}/health`).catch(() => null);
      if (r?.status === 200) return;
      await Bun.sleep(100);
    }
    throw new Error(`${this.name} not ready after ${timeoutMs / 1000} s`);
  }

  async post(path: string, body: unknown): Promise<{ json: any; wallMs: number }> {
    const t0 = performance.now();
    const r = await fetch(`${this.url}${path}`, {
      method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body),
    });
    const json = await r.json();
    const wallMs = performance.now() - t0;
    if (!r.ok) throw new Error(`${this.name} ${path}: ${r.status} ${JSON.stringify(json)}`);
    return { json, wallMs };
  }

  close(): void {
    if (!this.#exited) this.#proc.kill("SIGTERM");
  }
}

/** `redrafter serve` on the model with extra flags. noDrafter: serve has no flag that drops the
 *  drafter shipped for a model (drafters/<model file>.redrafter.gguf), so the model is linked
 *  under a name no drafter matches. */
export async function redrafterServer(s: Shared, name: string, flags: string[], noDrafter = false): Promise<Server> {
  let model = s.model;
  if (noDrafter) {
    model = join(mkdtempSync(join(tmpdir(), "rd-peers-")), `nodrafter-${basename(s.model)}`);
    symlinkSync(resolve(s.model), model);
  }
  const port = await freePort();
  return new Server(name, `http://127.0.0.1:${port}`, process.execPath, [
    join(ROOT, "src", "cli", "main.ts"), "serve", "--model", model, "--port", String(port),
    "--threads", String(s.threads), "--ctx-size", String(s.ctxSize), "--gpu-layers", "0",
    "--slots", "1", "--no-log-requests", "--request-timeout", "0", ...flags,
  ], join(s.logDir, `${name.replaceAll(" ", "_")}.log`));
}

/** A redrafter configuration: a server and the request's `redrafter` field.
 *  Generation phase: redrafter.timings.generation_ms (decoding steps, prefill excluded) over
 *  usage.completion_tokens. */
export function redrafter(server: Server, name: string, plain: string, draft = true): Contestant {
  return {
    name, family: "redrafter", plain,
    async run(text, maxTokens) {
      const { json, wallMs } = await server.post("/v1/completions", {
        prompt: text, max_tokens: maxTokens, temperature: 0, ...(draft ? {} : { redrafter: { draft: false } }),
      });
      const rd = json.redrafter;
      return {
        text: json.choices[0].text, tokens: json.usage.completion_tokens, wallMs,
        genMs: rd.timings.generation_ms, genTokens: json.usage.completion_tokens,
        promptTokens: json.usage.prompt_tokens,
        extra: { tau: rd.tau, target_calls: rd.target_calls, accepted: rd.accepted_tokens, copy_accepted: rd.copy_accepted_tokens },
      };
    },
  };
}

/** llama-server with extra flags (e.g. --spec-type ngram-mod), one slot, prompt cache off per request. */
export async function llamaServer(s: Shared, bin: string, name: string, flags: string[]): Promise<Server> {
  const port = await freePort();
  return new Server(name, `http://127.0.0.1:${port}`, join(bin, "llama-server"), [
    "-m", s.model, "--host", "127.0.0.1", "--port", String(port), "-t", String(s.threads), "-tb", String(s.threads),
    "-c", String(s.ctxSize), "-np", "1", "-ngl", "0", ...flags,
  ], join(s.logDir, `${name.replaceAll(" ", "_")}.log`));
}

/** A llama-server configuration. Generation phase: timings.predicted_ms over predicted_n
 *  (from the end of the prompt's batch to the last token). */
export function llamaServerContestant(server: Server, name: string, plain: string): Contestant {
  return {
    name, family: "llama-server", plain,
    async run(text, maxTokens) {
      const { json, wallMs } = await server.post("/completion", {
        prompt: text, n_predict: maxTokens, temperature: 0, cache_prompt: false, seed: 1,
      });
      const t = json.timings;
      return {
        text: json.content, tokens: t.predicted_n, wallMs, genMs: t.predicted_ms, genTokens: t.predicted_n,
        promptTokens: t.prompt_n,
        extra: t.draft_n !== undefined ? { drafted: t.draft_n, accepted: t.draft_n_accepted } : {},
      };
    },
  };
}

/** node-llama-cpp in this process: one context per configuration, LlamaCompletion at
 *  temperature 0 without its default repeat penalty (so it decodes greedily, like the others). */
export class NodeLlamaCpp {
  readonly #model: LlamaModel;
  readonly #contexts: LlamaContext[] = [];
  private constructor(model: LlamaModel, readonly shared: Shared) {
    this.#model = model;
  }

  static async load(s: Shared): Promise<NodeLlamaCpp> {
    const llama = await getLlama({ build: "never", gpu: false, logLevel: LlamaLogLevel.error });
    return new NodeLlamaCpp(await llama.loadModel({ modelPath: s.model, gpuLayers: 0 }), s);
  }

  get model(): LlamaModel {
    return this.#model;
  }

  /** Generation phase: first onToken -> last, over the tokens after the first (the first comes
   *  with the prefill). lookup: InputLookupTokenPredictor with its defaults. */
  async contestant(name: string, plain: string, lookup: boolean): Promise<Contestant> {
    const context = await this.#model.createContext({
      contextSize: this.shared.ctxSize, threads: this.shared.threads, sequences: 1, flashAttention: "auto",
    });
    this.#contexts.push(context);
    const predictor = lookup ? new InputLookupTokenPredictor() : undefined;
    const sequence = context.getSequence(predictor ? { tokenPredictor: predictor } : {});
    const completion = new LlamaCompletion({ contextSequence: sequence });
    const model = this.#model;
    return {
      name, family: "node-llama-cpp", plain,
      async run(text, maxTokens) {
        await sequence.clearHistory();
        const before = sequence.tokenPredictions;
        const input = model.tokenize(text, true);
        let n = 0, first = 0, last = 0;
        const t0 = performance.now();
        const out = await completion.generateCompletion(input, {
          maxTokens, temperature: 0, repeatPenalty: false,
          onToken: (tokens) => {
            last = performance.now();
            if (n === 0) first = last;
            n += tokens.length;
          },
        });
        const wallMs = performance.now() - t0;
        const p = sequence.tokenPredictions;
        return {
          text: out, tokens: n, wallMs, genMs: last - first, genTokens: Math.max(0, n - 1),
          promptTokens: input.length + (model.tokens.shouldPrependBosToken ? 1 : 0),
          extra: predictor ? { validated: p.validated - before.validated, refuted: p.refuted - before.refuted } : {},
        };
      },
    };
  }

  async close(): Promise<void> {
    for (const c of this.#contexts) await c.dispose();
    await this.#model.dispose();
  }
}
