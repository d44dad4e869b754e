// rng.ts - the hostile bench's seeded random numbers (xorshift32): the same --seed sends the same
// requests and writes the same corrupted files, so a failure can be replayed.

export class Rng {
  #s: number;

  constructor(seed: number, stream = 0) {
    // spread small seeds over the state; xorshift must never hold 0
    this.#s = (Math.imul((seed >>> 0) ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(stream + 1, 0xc2b2ae35)) >>> 0 || 1;
    for (let i = 0; i < 8; i++) this.next();
  }

  /** Uniform in [0, 1). */
  next(): number {
    let x = this.#s;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.#s = x >>> 0;
    return this.#s / 2 ** 32;
  }

  /** Integer in [lo, hi). */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo));
  }

  pick<T>(xs: readonly T[]): T {
    return xs[this.int(0, xs.length)]!;
  }

  chance(p: number): boolean {
    return this.next() < p;
  }
}
