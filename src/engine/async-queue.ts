// async-queue.ts - an unbounded single-consumer queue read with for-await: the producer never
// waits on the consumer (generation never waits on a slow client). close(err) ends it: the
// consumer gets the items already pushed, then err is thrown (or the iteration ends). A consumer
// that stops early (break) releases it: later pushes are dropped and onRelease() runs.
export class AsyncQueue<T> implements AsyncIterableIterator<T> {
  #items: T[] = [];
  #closed = false;
  #error: unknown = null;
  #released = false;
  #wake: (() => void) | null = null;

  /** No more items will come. */
  get closed(): boolean {
    return this.#closed;
  }

  /** The consumer stopped reading (break, or it saw the end). */
  protected get released(): boolean {
    return this.#released;
  }

  push(item: T): void {
    if (this.#released) return;
    this.#items.push(item);
    this.#notify();
  }

  /** End the queue; false when it had ended already (the first close wins). */
  close(error: unknown = null): boolean {
    if (this.#closed) return false;
    this.#closed = true;
    this.#error = error;
    this.#notify();
    return true;
  }

  async next(): Promise<IteratorResult<T>> {
    for (;;) {
      if (this.#items.length > 0) return { value: this.#items.shift()!, done: false };
      if (this.#closed) {
        this.#released = true;
        const err = this.#error;
        this.#error = null;
        if (err) throw err;
        return { value: undefined, done: true };
      }
      await new Promise<void>((r) => (this.#wake = r));
    }
  }

  /** The consumer stopped early: drop what is still to come. */
  async return(): Promise<IteratorResult<T>> {
    this.#released = true;
    this.#items.length = 0;
    this.onRelease();
    return { value: undefined, done: true };
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  /** Called when the consumer stops early. */
  protected onRelease(): void {}

  #notify(): void {
    const w = this.#wake;
    this.#wake = null;
    w?.();
  }
}
