// head_kernel_x86.h - what the x86 kernels of every type share (head_kernel_x86.cpp: Q8_0,
// head_kernel_x86_q6k.cpp: Q6_K, head_kernel_x86_f16.cpp: F16): the per-function target
// attributes that let one binary run on any x86-64 and pick a path at run time, the register
// transposes that put rows in lanes, the block loop of the integer kernels and the pick of a
// type's kernel.
//
// Each helper is written once per vector width: a function is compiled for one target, and an
// always_inline template instantiated for AVX-512 cannot be inlined into, or be, an AVX2 one
// (GCC: "inlining failed ... target specific option mismatch"), so a width-generic template would
// need macros or one translation unit per -m flag (whose shared inline functions the linker may
// then take from the AVX-512 unit for everyone).
// Include only under defined(__x86_64__) || defined(__i386__).
#pragma once

#include "head_kernel_impl.h"

#include <immintrin.h>

#include <array>
#include <utility>

// GCC 12 reports its own AVX-512 intrinsics' undefined pass-through operands as "may be used
// uninitialized" (GCC bug 105593, fixed in 13).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#define RD_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")))
#define RD_AVX2 __attribute__((target("avx2,fma,f16c")))
#define RD_INLINE inline __attribute__((always_inline))

// 4 x 4 dword transpose inside every 128-bit lane: lane l of v[j] takes dword j of lane l's v[l].
RD_AVX512 RD_INLINE void rd_tr4_512(__m512i * v) {
    const __m512i t0 = _mm512_unpacklo_epi32(v[0], v[1]), t1 = _mm512_unpackhi_epi32(v[0], v[1]);
    const __m512i t2 = _mm512_unpacklo_epi32(v[2], v[3]), t3 = _mm512_unpackhi_epi32(v[2], v[3]);
    v[0] = _mm512_unpacklo_epi64(t0, t2);
    v[1] = _mm512_unpackhi_epi64(t0, t2);
    v[2] = _mm512_unpacklo_epi64(t1, t3);
    v[3] = _mm512_unpackhi_epi64(t1, t3);
}

RD_AVX2 RD_INLINE void rd_tr4_256(__m256i * v) {
    const __m256i t0 = _mm256_unpacklo_epi32(v[0], v[1]), t1 = _mm256_unpackhi_epi32(v[0], v[1]);
    const __m256i t2 = _mm256_unpacklo_epi32(v[2], v[3]), t3 = _mm256_unpackhi_epi32(v[2], v[3]);
    v[0] = _mm256_unpacklo_epi64(t0, t2);
    v[1] = _mm256_unpackhi_epi64(t0, t2);
    v[2] = _mm256_unpacklo_epi64(t1, t3);
    v[3] = _mm256_unpackhi_epi64(t1, t3);
}

RD_AVX2 RD_INLINE __m256i rd_load256(const void * p) { return _mm256_loadu_si256((const __m256i *) p); }

// Software prefetch of the weight stream. Decoding reads each matrix once per token, from memory
// (a model is larger than the caches), and the kernels' block loops left the next lines to the
// hardware prefetchers: the products then ran at 7-9 GB/s on one core, and every extra column's
// arithmetic added to the memory time instead of hiding under it. Asking for the bytes ~4 KB
// ahead made 200 packed Q4_1 matrices of 1536 x 576 (110 MB) 23-26% faster for one column and
// 30-32% for four (native/build/kernel-stream, the library before and after, alternated). A
// prefetch never faults, so addresses past the end of the matrix are harmless.
constexpr size_t RD_PREFETCH_AHEAD = 4096;

// The lines of [p, p + n) (whole lines from the one holding p).
RD_INLINE void rd_prefetch(const uint8_t * p, size_t n) {
    const uintptr_t first = (uintptr_t) p & ~(uintptr_t) 63;
    for (uintptr_t a = first; a < (uintptr_t) p + n; a += 64) _mm_prefetch((const char *) a, _MM_HINT_T0);
}

// AVX-VNNI's vpdpbusd (VEX) written out: its intrinsic would need the caller compiled for
// "avxvnni" too, and the AVX2 steps around it are shared by both paths.
RD_AVX2 RD_INLINE __m256i rd_dpbusd_vex(__m256i s, __m256i u8, __m256i s8) {
    __asm__("%{vex%} vpdpbusd %2, %1, %0" : "+x"(s) : "x"(u8), "x"(s8));
    return s;
}

// The block loop of the integer kernels (Q8_0, Q6_K) with rows in lanes, head_kernel.h's
// arithmetic in the order that makes it batch invariant: per row set (16 rows in a zmm, 8 in a
// ymm), per block b in order, per column c, acc[c] = fma(dw * dx[c][b], (float) isum[c], acc[c])
// from 0 (dw * dx: exact for Q8_0, one rounding for Q6_K, the same one on every path). What a
// type brings is its Block:
//   load(j, r0, b): unpacks block b of rows r0.. once for all columns; returns their scales dw;
//   isum(j, c, b): column c's exact integer sums against those rows.
template <int K, class Block>
RD_AVX512 void rd_hk_groups_int512(const rd_hk_job & j, int32_t g0, int32_t g1) {
    const rd_hk_matrix & w = *j.w;
    Block blk;
    // the next 16 rows (contiguous in W) are prefetched a slice per block of these
    const size_t slice = (16 * w.row_bytes + (size_t) w.nb - 1) / (size_t) w.nb;
    for (int32_t r0 = g0 * RD_HK_GROUP; r0 < g1 * RD_HK_GROUP; r0 += 16) {
        __m512 acc[K];
        for (int c = 0; c < K; c++) acc[c] = _mm512_setzero_ps();
        const uint8_t * next = w.q + (size_t) (r0 + 16) * w.row_bytes;
        for (int32_t b = 0; b < w.nb; b++) {
            rd_prefetch(next + (size_t) b * slice, slice);
            const __m512 dw = blk.load(j, r0, b);
            for (int c = 0; c < K; c++) {
                const __m512 s = _mm512_mul_ps(dw, _mm512_set1_ps(j.dx[(size_t) c * w.nb + b]));
                acc[c] = _mm512_fmadd_ps(s, _mm512_cvtepi32_ps(blk.isum(j, c, b)), acc[c]);
            }
        }
        for (int c = 0; c < K; c++) _mm512_storeu_ps(j.y + (size_t) c * w.V + (size_t) r0, acc[c]);
    }
}

template <int K, class Block>
RD_AVX2 void rd_hk_groups_int256(const rd_hk_job & j, int32_t g0, int32_t g1) {
    const rd_hk_matrix & w = *j.w;
    Block blk;
    const size_t slice = (8 * w.row_bytes + (size_t) w.nb - 1) / (size_t) w.nb; // as above, 8 rows
    for (int32_t r0 = g0 * RD_HK_GROUP; r0 < g1 * RD_HK_GROUP; r0 += 8) {
        __m256 acc[K];
        for (int c = 0; c < K; c++) acc[c] = _mm256_setzero_ps();
        const uint8_t * next = w.q + (size_t) (r0 + 8) * w.row_bytes;
        for (int32_t b = 0; b < w.nb; b++) {
            rd_prefetch(next + (size_t) b * slice, slice);
            const __m256 dw = blk.load(j, r0, b);
            for (int c = 0; c < K; c++) {
                const __m256 s = _mm256_mul_ps(dw, _mm256_set1_ps(j.dx[(size_t) c * w.nb + b]));
                acc[c] = _mm256_fmadd_ps(s, _mm256_cvtepi32_ps(blk.isum(j, c, b)), acc[c]);
            }
        }
        for (int c = 0; c < K; c++) _mm256_storeu_ps(j.y + (size_t) c * w.V + (size_t) r0, acc[c]);
    }
}

// The kernels of an integer type: its blocks for AVX-512, AVX2 with AVX-VNNI and plain AVX2.
template <class Block512, class BlockVnni, class Block2> struct rd_hk_x86_int_kernels {
    template <int K> static constexpr rd_hk_groups_fn avx512 = &rd_hk_groups_int512<K, Block512>;
    template <int K> static constexpr rd_hk_groups_fn avx2_vnni = &rd_hk_groups_int256<K, BlockVnni>;
    template <int K> static constexpr rd_hk_groups_fn avx2 = &rd_hk_groups_int256<K, Block2>;
};

// A type's kernels for K = 1..RD_HK_MAX_COLS columns, one table per ISA (Kernels::avx512<K>,
// ::avx2_vnni<K>, ::avx2<K>: function pointers; a type without an AVX-VNNI path names its AVX2
// kernels there), and the pick among them; nullptr where K or the ISA does not fit.
template <class Kernels, int... I>
rd_hk_groups_fn rd_hk_x86_pick(rd_hk_isa isa, int32_t K, std::integer_sequence<int, I...>) {
    using table = std::array<rd_hk_groups_fn, sizeof...(I)>;
    static const table t512 = {{Kernels::template avx512<I + 1>...}};
    static const table tvnni = {{Kernels::template avx2_vnni<I + 1>...}};
    static const table t2 = {{Kernels::template avx2<I + 1>...}};
    if (K < 1 || K > (int32_t) sizeof...(I) || !rd_hk_x86_supported(isa)) return nullptr;
    switch (isa) {
    case rd_hk_isa::avx512_vnni: return t512[(size_t) K - 1];
    case rd_hk_isa::avx2_vnni: return tvnni[(size_t) K - 1];
    case rd_hk_isa::avx2: return t2[(size_t) K - 1];
    default: return nullptr;
    }
}

template <class Kernels> rd_hk_groups_fn rd_hk_x86_pick(rd_hk_isa isa, int32_t K) {
    return rd_hk_x86_pick<Kernels>(isa, K, std::make_integer_sequence<int, RD_HK_MAX_COLS>());
}
