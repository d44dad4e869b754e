// lifetime.ts - how long generations may live. Each running request is tracked from its arrival:
// past --request-timeout (queue time included) it ends with a 504; at shutdown the ones still
// running after --shutdown-grace end with a 503. Either way the run is cancelled, so its slot
// frees, and the client gets the error (a JSON body, or an error event mid-stream).
import { ApiError, shuttingDown } from "./errors.ts";
import type { Run } from "./run.ts";

export class Lifetimes {
  readonly #live = new Set<Run>();
  #onIdle: (() => void)[] = [];
  #endGrace: (() => void) | null = null;
  #closing = false;

  /** timeoutS: --request-timeout, 0 = none */
  constructor(private readonly timeoutS: number) {}

  get closing(): boolean {
    return this.#closing;
  }

  /** Watch a run until it is done. */
  track(run: Run): void {
    if (this.#closing) {
      run.fail(shuttingDown());
      return;
    }
    this.#live.add(run);
    let timer: ReturnType<typeof setTimeout> | null = null;
    if (this.timeoutS > 0) {
      const left = run.requestStartedAt + this.timeoutS * 1000 - performance.now();
      const err = new ApiError(504, `The request took longer than the server's limit of ${this.timeoutS} s (--request-timeout)`, "server_error", "timeout");
      timer = setTimeout(() => run.fail(err), Math.max(0, left));
    }
    void run.done.then(() => {
      if (timer) clearTimeout(timer);
      this.#live.delete(run);
      if (this.#live.size === 0) for (const r of this.#onIdle.splice(0)) r();
    });
  }

  /** Shut down: runs may go on for graceS seconds (or until endGrace()), then the rest fail with
   *  a 503. Resolves once none is left. */
  async shutdown(graceS: number): Promise<void> {
    this.#closing = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      this.#idle(),
      new Promise<void>((r) => {
        this.#endGrace = r;
        timer = setTimeout(r, graceS * 1000);
      }),
    ]);
    clearTimeout(timer);
    for (const run of this.#live) run.fail(shuttingDown());
    await this.#idle();
  }

  /** Cut the grace period short (a second signal). */
  endGrace(): void {
    this.#endGrace?.();
  }

  #idle(): Promise<void> {
    return this.#live.size === 0 ? Promise.resolve() : new Promise((r) => this.#onIdle.push(r));
  }
}
