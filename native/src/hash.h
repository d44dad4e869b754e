/* hash.h - the two small hashes of native/, one copy each: FNV-1a (the target's fingerprint, the
 * teacher cache key, per-tensor seeds) and splitmix64 (seeded streams: random drafter weights,
 * training data order, the tiny test model). Plain C as well, for tools/make_tiny_model.c. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* The starting value of every FNV-1a hash here. It is FNV's 64-bit offset basis
 * (14695981039346656037) missing its last digit, a slip made early and kept on purpose: any
 * nonzero start hashes as well, and fingerprints stored in drafter files, teacher cache keys and
 * seeded random drafters all depend on it. */
#define RD_FNV_START 1469598103934665603ull

/* FNV-1a 64 of n bytes at data, continuing from h (RD_FNV_START for a fresh hash). */
static inline uint64_t rd_fnv1a(uint64_t h, const void * data, size_t n) {
    const uint8_t * b = (const uint8_t *) data;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 1099511628211ull;
    }
    return h;
}

/* The next value of the splitmix64 stream *state (advancing it): tiny, good enough, and the same
 * bits on every platform. */
static inline uint64_t rd_splitmix64(uint64_t * state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
