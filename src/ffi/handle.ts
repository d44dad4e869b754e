// handle.ts - what every native handle class shares: it owns one pointer, refuses use after
// close (no stale pointer ever reaches C), closes the handles that borrow it first, and
// releases itself from the handles it borrows.
import { type Pointer } from "bun:ffi";
import { closedError } from "./errors.ts";

/** Something that must be closed before the handle it borrows. */
export interface Dependent {
  close(): void;
}

export abstract class Handle implements Dependent {
  #ptr: Pointer | null;
  readonly #dependents = new Set<Dependent>();

  /** owners: the handles this one borrows; they close it before themselves. */
  protected constructor(p: Pointer, private readonly kind: string, private readonly owners: Handle[] = []) {
    this.#ptr = p;
    for (const o of owners) o.adopt(this);
  }

  /** Frees the native object; called once, by close(). */
  protected abstract free(p: Pointer): void;

  /** The native pointer; throws once closed. */
  get ptr(): Pointer {
    if (this.#ptr === null) throw closedError(this.kind);
    return this.#ptr;
  }

  get closed(): boolean {
    return this.#ptr === null;
  }

  /** Register a handle that borrows this one; it is closed first when this one closes. */
  adopt(d: Dependent): void {
    this.ptr;
    this.#dependents.add(d);
  }

  release(d: Dependent): void {
    this.#dependents.delete(d);
  }

  /** Give up ownership without freeing, to hand the pointer to another thread (which wraps it
   *  again with the class's fromPointer). This handle is closed afterwards. */
  detach(): Pointer {
    const p = this.ptr;
    if (this.#dependents.size > 0) throw new Error(`cannot detach a ${this.kind.toLowerCase()} that other handles borrow`);
    this.#ptr = null;
    for (const o of this.owners) o.release(this);
    return p;
  }

  close(): void {
    if (this.#ptr === null) return;
    for (const d of [...this.#dependents].reverse()) d.close(); // last borrower first
    this.free(this.#ptr);
    this.#ptr = null;
    for (const o of this.owners) o.release(this);
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
