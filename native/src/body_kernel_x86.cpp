// body_kernel_x86.cpp - the body kernel's x86 paths (Q4_1: AVX-512 VNNI, AVX2 with AVX-VNNI,
// AVX2; Q5_0, Q4_K and Q6_K: AVX-512 VNNI on the packed copy), chosen at run time. The arithmetic is body_kernel.h's; only how the exact
// integer isum is computed differs from the scalar reference.
//
// Shape of one block step (4 rows of a group, block b): each row's 32 quants are unpacked into a
// ymm in element order (8 dwords of 4 values), and the 4 rows are transposed inside each 128-bit
// half, so that lane l holds row l's dword j in the lower half and dword 4 + j in the upper half
// (rd_tr4_256). Per column, 4 vpdpbusd against the block's activation patterns (the same shape,
// made once per call by rd_bk_quantize) leave each row's sum in its own lane of the two halves:
// one add gives the 4 rows' isum, and the float steps run on 4 rows at once. The unpack and the
// transpose are paid once per block for all the columns of a tile.
#include "body_kernel.h"

#if defined(__x86_64__) || defined(__i386__)

#include "head_kernel_x86.h" // RD_AVX512, RD_AVX2, RD_INLINE, rd_tr4_256, rd_dpbusd_vex

#include <algorithm>
#include <cmath>
#include <cstring>

namespace {

// One row's block: its 32 quants in element order (low nibbles, then high nibbles).
RD_AVX2 RD_INLINE __m256i unpack(const uint8_t * blk) {
    const __m128i v = _mm_loadu_si128((const __m128i *) (blk + 4));
    const __m128i m4 = _mm_set1_epi8(0x0F);
    const __m128i lo = _mm_and_si128(v, m4), hi = _mm_and_si128(_mm_srli_epi16(v, 4), m4);
    return _mm256_set_m128i(hi, lo);
}

// The 4 rows' [dw0..dw3 | mw0..mw3] of the block at p (row i at p + i * rb), as floats.
RD_AVX2 RD_INLINE __m256 scales4(const uint8_t * p, size_t rb) {
    int32_t h[4];
    for (int i = 0; i < 4; i++) memcpy(&h[i], p + i * rb, 4);
    const __m128i g = _mm_loadu_si128((const __m128i *) h);
    const __m128i split = _mm_setr_epi8(0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15);
    return _mm256_cvtph_ps(_mm_shuffle_epi8(g, split));
}

RD_AVX2 RD_INLINE __m256i dot_avx2(__m256i s, __m256i w, const uint8_t * pat) {
    const __m256i x = _mm256_loadu_si256((const __m256i *) pat);
    return _mm256_add_epi32(s, _mm256_madd_epi16(_mm256_maddubs_epi16(w, x), _mm256_set1_epi16(1)));
}
RD_AVX2 RD_INLINE __m256i dot_avx2_vnni(__m256i s, __m256i w, const uint8_t * pat) {
    return rd_dpbusd_vex(s, w, _mm256_loadu_si256((const __m256i *) pat));
}
RD_AVX512 RD_INLINE __m256i dot_avx512(__m256i s, __m256i w, const uint8_t * pat) {
    return _mm256_dpbusd_epi32(s, w, _mm256_loadu_si256((const __m256i *) pat));
}

// Where the packed groups a call for rows r0..r1-1 reads end: from r0, whole groups of the copy
// (r0 itself when there is no copy or r0 does not start a group; the rest is read in place).
RD_INLINE int32_t packed_end(const rd_bk_job & j, int32_t r0, int32_t r1) {
    if (!j.P || r0 % RD_BK_PACK_ROWS != 0) return r0;
    const int32_t last = std::min(r1, j.V / RD_BK_PACK_ROWS * RD_BK_PACK_ROWS);
    return last > r0 ? r0 + (last - r0) / RD_BK_PACK_ROWS * RD_BK_PACK_ROWS : r0;
}

// Rows r + 8h .. r + 8h + 7 of a packed group (body_kernel.h, rd_bk_pack; r a multiple of 16)
// by columns c0 .. c0 + NC - 1, for the AVX2 paths: each 64-byte part of a block holds rows 0-7
// in its lower 32 bytes and rows 8-15 in its upper, so half h reads 4 of those and masks each
// twice (low nibbles: dword u of the 8 rows' quants; high: dword 4 + u). Per column, 8 dot
// products of 8 lanes against the column's activation dwords broadcast leave row i's isum in
// lane i. A half at a time, so 2 columns fit the 16 ymm registers.
#define RD_BK_PACKED_HALF(NAME, TARGET, DOT)                                                         \
    template <int NC>                                                                                \
    TARGET void NAME(const rd_bk_job & j, int32_t r, int32_t h, int32_t c0) {                        \
        const int32_t d = j.nb * RD_BK_QK;                                                           \
        const uint8_t * p = j.P + (size_t) (r / RD_BK_PACK_ROWS) * (size_t) j.nb * RD_BK_PACK_BLOCK;  \
        const __m256i m4 = _mm256_set1_epi8(0x0F);                                                   \
        __m256 a[NC], m[NC];                                                                         \
        for (int c = 0; c < NC; c++) a[c] = m[c] = _mm256_setzero_ps();                              \
        for (int32_t b = 0; b < j.nb; b++) {                                                         \
            const uint8_t * blk = p + (size_t) b * RD_BK_PACK_BLOCK;                                 \
            if (h == 0) rd_prefetch(blk + RD_PREFETCH_AHEAD, RD_BK_PACK_BLOCK); /* h 1 finds it */   \
            __m256i raw[4];                                                                          \
            for (int u = 0; u < 4; u++) raw[u] = _mm256_load_si256((const __m256i *) (blk + 64 * u + 32 * h)); \
            const int8_t * q[NC];                                                                    \
            __m256i s[NC];                                                                           \
            for (int c = 0; c < NC; c++) {                                                           \
                q[c] = j.s->qx.data() + (size_t) (c0 + c) * d + (size_t) b * RD_BK_QK;               \
                s[c] = _mm256_setzero_si256();                                                       \
            }                                                                                        \
            for (int u = 0; u < 4; u++) { /* activation dwords broadcast straight from memory */    \
                const __m256i lo = _mm256_and_si256(raw[u], m4);                                     \
                const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(raw[u], 4), m4);               \
                for (int c = 0; c < NC; c++) {                                                       \
                    s[c] = DOT(s[c], lo, _mm256_broadcastd_epi32(_mm_loadu_si32(q[c] + 4 * u)));     \
                    s[c] = DOT(s[c], hi, _mm256_broadcastd_epi32(_mm_loadu_si32(q[c] + 16 + 4 * u))); \
                }                                                                                    \
            }                                                                                        \
            const __m256 dw = _mm256_cvtph_ps(_mm_load_si128((const __m128i *) (blk + 256 + 16 * h))); \
            const __m256 mw = _mm256_cvtph_ps(_mm_load_si128((const __m128i *) (blk + 288 + 16 * h))); \
            for (int c = 0; c < NC; c++) {                                                           \
                const size_t cb = (size_t) (c0 + c) * j.nb + b;                                      \
                const __m256 scale = _mm256_mul_ps(dw, _mm256_set1_ps(j.s->dx[cb]));                 \
                a[c] = _mm256_fmadd_ps(scale, _mm256_cvtepi32_ps(s[c]), a[c]);                       \
                m[c] = _mm256_fmadd_ps(mw, _mm256_set1_ps(j.s->sx[cb]), m[c]);                       \
            }                                                                                        \
        }                                                                                            \
        for (int c = 0; c < NC; c++)                                                                 \
            _mm256_storeu_ps(j.y + (size_t) (c0 + c) * j.y_stride + r + 8 * h, _mm256_add_ps(a[c], m[c])); \
    }                                                                                                \
    /* the packed groups from r0 (packed_end); returns the first row not done */                   \
    TARGET int32_t NAME##_rows(const rd_bk_job & j, int32_t r0, int32_t r1) {                       \
        const int32_t end = packed_end(j, r0, r1);                                                   \
        for (int32_t r = r0; r < end; r += RD_BK_PACK_ROWS)                                          \
            for (int32_t h = 0; h < 2; h++)                                                          \
                for (int32_t c = 0; c < j.K; c += 2) {                                               \
                    if (j.K - c >= 2) NAME<2>(j, r, h, c);                                           \
                    else NAME<1>(j, r, h, c);                                                        \
                }                                                                                    \
        return end;                                                                                  \
    }

// The two AVX2 dot products of unsigned weights by signed activations into int32 lanes (isum is
// exact either way: |pair sums| <= 2 * 15 * 128 fit maddubs' int16).
RD_AVX2 RD_INLINE __m256i dot_avx2_reg(__m256i s, __m256i w, __m256i x) {
    return _mm256_add_epi32(s, _mm256_madd_epi16(_mm256_maddubs_epi16(w, x), _mm256_set1_epi16(1)));
}
RD_AVX2 RD_INLINE __m256i dot_avx2_vnni_reg(__m256i s, __m256i w, __m256i x) { return rd_dpbusd_vex(s, w, x); }

RD_BK_PACKED_HALF(packed_avx2, RD_AVX2, dot_avx2_reg)
RD_BK_PACKED_HALF(packed_avx2_vnni, RD_AVX2, dot_avx2_vnni_reg)
#undef RD_BK_PACKED_HALF

// Rows r .. r + 3 by columns c0 .. c0 + NC - 1, for each instruction set (a function is compiled
// for one target, so the loop is written once as a macro and instantiated three times).
#define RD_BK_GROUP_TILE(NAME, TARGET, DOT)                                                          \
    template <int NC>                                                                                \
    TARGET void NAME(const rd_bk_job & j, int32_t r, int32_t c0) {                                   \
        const size_t rb = j.row_bytes;                                                               \
        const uint8_t * rows = j.W + (size_t) r * rb;                                                \
        __m128 a[NC], m[NC];                                                                         \
        for (int c = 0; c < NC; c++) a[c] = m[c] = _mm_setzero_ps();                                 \
        for (int32_t b = 0; b < j.nb; b++) {                                                         \
            const uint8_t * blk = rows + (size_t) b * RD_BK_BLOCK_BYTES;                             \
            __m256i w[4] = {unpack(blk), unpack(blk + rb), unpack(blk + 2 * rb), unpack(blk + 3 * rb)}; \
            rd_tr4_256(w);                                                                           \
            const __m256 sc = scales4(blk, rb);                                                      \
            const __m128 dw = _mm256_castps256_ps128(sc), mw = _mm256_extractf128_ps(sc, 1);         \
            for (int c = 0; c < NC; c++) {                                                           \
                const size_t cb = (size_t) (c0 + c) * j.nb + b;                                      \
                const uint8_t * pat = j.s->pat.data() + cb * RD_BK_PAT;                              \
                __m256i s = _mm256_setzero_si256();                                                  \
                for (int t = 0; t < 4; t++) s = DOT(s, w[t], pat + 32 * t);                          \
                const __m128i is = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1)); \
                const __m128 scale = _mm_mul_ps(dw, _mm_set1_ps(j.s->dx[cb]));                       \
                a[c] = _mm_fmadd_ps(scale, _mm_cvtepi32_ps(is), a[c]);                               \
                m[c] = _mm_fmadd_ps(mw, _mm_set1_ps(j.s->sx[cb]), m[c]);                             \
            }                                                                                        \
        }                                                                                            \
        for (int c = 0; c < NC; c++) _mm_storeu_ps(j.y + (size_t) (c0 + c) * j.y_stride + r, _mm_add_ps(a[c], m[c])); \
    }                                                                                                \
    TARGET void NAME##_rows(const rd_bk_job & j, int32_t r0, int32_t r1) {                          \
        for (int32_t r = r0; r + RD_BK_ROWS <= r1; r += RD_BK_ROWS) {                                \
            int32_t c = 0;                                                                           \
            for (; c + 4 <= j.K; c += 4) NAME<4>(j, r, c);                                           \
            switch (j.K - c) {                                                                       \
            case 3: NAME<3>(j, r, c); break;                                                         \
            case 2: NAME<2>(j, r, c); break;                                                         \
            case 1: NAME<1>(j, r, c); break;                                                         \
            default: break;                                                                          \
            }                                                                                        \
        }                                                                                            \
    }

static_assert(RD_BK_TILE == 4 && RD_BK_ROWS == 4, "the tiles below are written for 4 rows x 4 columns");
RD_BK_GROUP_TILE(tile_avx2, RD_AVX2, dot_avx2)
RD_BK_GROUP_TILE(tile_avx2_vnni, RD_AVX2, dot_avx2_vnni)
RD_BK_GROUP_TILE(tile_avx512, RD_AVX512, dot_avx512)
#undef RD_BK_GROUP_TILE

// ---- AVX-512: 8 rows per step, rows 0-3 in the lower 256 bits and 4-7 in the upper ----

// Rows i and j's block: [row i's 32 quants | row j's], each in element order.
RD_AVX512 RD_INLINE __m512i unpack2(const uint8_t * bi, const uint8_t * bj) {
    const __m128i vi = _mm_loadu_si128((const __m128i *) (bi + 4)), vj = _mm_loadu_si128((const __m128i *) (bj + 4));
    const __m512i z = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set_m128i(vi, vi)), _mm256_set_m128i(vj, vj), 1);
    const __m512i shift = _mm512_set_epi64(0x0004000400040004, 0x0004000400040004, 0, 0, // low nibbles in the
                                           0x0004000400040004, 0x0004000400040004, 0, 0); // even 128-bit lanes
    return _mm512_and_si512(_mm512_srlv_epi16(z, shift), _mm512_set1_epi8(0x0F));
}

// The 8 rows' [dw0..dw7 | mw0..mw7] of the block at p (row i at p + i * rb), as floats.
RD_AVX512 RD_INLINE __m512 scales8(const uint8_t * p, size_t rb) {
    int32_t h[8];
    for (int i = 0; i < 8; i++) memcpy(&h[i], p + i * rb, 4);
    const __m256i split = _mm256_setr_epi8(0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15,
                                           0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15);
    const __m256i g = _mm256_shuffle_epi8(_mm256_loadu_si256((const __m256i *) h), split);
    return _mm512_cvtph_ps(_mm256_permute4x64_epi64(g, _MM_SHUFFLE(3, 1, 2, 0)));
}

template <int NC>
RD_AVX512 void group8_avx512(const rd_bk_job & j, int32_t r, int32_t c0) {
    const size_t rb = j.row_bytes;
    const uint8_t * rows = j.W + (size_t) r * rb;
    __m256 a[NC], m[NC];
    for (int c = 0; c < NC; c++) a[c] = m[c] = _mm256_setzero_ps();
    for (int32_t b = 0; b < j.nb; b++) {
        const uint8_t * blk = rows + (size_t) b * RD_BK_BLOCK_BYTES;
        __m512i w[4];
        for (int t = 0; t < 4; t++) w[t] = unpack2(blk + t * rb, blk + (4 + t) * rb);
        rd_tr4_512(w);
        const __m512 sc = scales8(blk, rb);
        const __m256 dw = _mm512_castps512_ps256(sc), mw = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(sc), 1));
        for (int c = 0; c < NC; c++) {
            const size_t cb = (size_t) (c0 + c) * j.nb + b;
            const uint8_t * pat = j.s->pat.data() + cb * RD_BK_PAT;
            __m512i s = _mm512_setzero_si512();
            for (int t = 0; t < 4; t++)
                s = _mm512_dpbusd_epi32(s, w[t], _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *) (pat + 32 * t))));
            // rows 0-3: 128-bit lanes 0 + 1; rows 4-7: lanes 2 + 3
            const __m512i pair = _mm512_add_epi32(s, _mm512_shuffle_i32x4(s, s, _MM_SHUFFLE(2, 3, 0, 1)));
            const __m256i is = _mm512_castsi512_si256(_mm512_shuffle_i32x4(pair, pair, _MM_SHUFFLE(2, 0, 2, 0)));
            const __m256 scale = _mm256_mul_ps(dw, _mm256_set1_ps(j.s->dx[cb]));
            a[c] = _mm256_fmadd_ps(scale, _mm256_cvtepi32_ps(is), a[c]);
            m[c] = _mm256_fmadd_ps(mw, _mm256_set1_ps(j.s->sx[cb]), m[c]);
        }
    }
    for (int c = 0; c < NC; c++) _mm256_storeu_ps(j.y + (size_t) (c0 + c) * j.y_stride + r, _mm256_add_ps(a[c], m[c]));
}

// ---- AVX-512 on the packed copy (body_kernel.h, rd_bk_pack): 16 rows in the 16 lanes ----

// Rows r .. r + 15 (a whole group of the packed copy) by columns c0 .. c0 + NC - 1. Per block:
// 4 loads and 8 masks give the 16 rows' 8 dwords of quants (Q5_0: each byte whose quant has its
// high bit set gets 16 added, under the block's mask for that register; Q6_K: 16 and 32; Q4_K:
// f32 scales); per column, 8 vpdpbusd
// against the block's 8 activation dwords broadcast leave row i's isum in lane i (two chains,
// added: integer sums are exact in any order), then body_kernel.h's float steps on 16 rows.
template <int NC, rd_bk_type T>
RD_AVX512 void group16_avx512(const rd_bk_job & j, int32_t r, int32_t c0) {
    constexpr bool Q5 = T == rd_bk_type::q5_0, Q6 = T == rd_bk_type::q6_k;
    constexpr size_t PB = T == rd_bk_type::q5_0 ? RD_BK_PACK_Q5 : T == rd_bk_type::q4_k ? RD_BK_PACK_Q4K
                        : T == rd_bk_type::q6_k ? RD_BK_PACK_Q6K : RD_BK_PACK_BLOCK;
    const int32_t d = j.nb * RD_BK_QK;
    const uint8_t * p = j.P + (size_t) (r / RD_BK_PACK_ROWS) * (size_t) j.nb * PB;
    const __m512i m4 = _mm512_set1_epi8(0x0F), b4 = _mm512_set1_epi8(0x10), b5 = _mm512_set1_epi8(0x20);
    __m512 a[NC], m[NC];
    for (int c = 0; c < NC; c++) a[c] = m[c] = _mm512_setzero_ps();
    for (int32_t b = 0; b < j.nb; b++) {
        const uint8_t * blk = p + (size_t) b * PB;
        rd_prefetch(blk + RD_PREFETCH_AHEAD, PB);
        __m512i w[8];
        for (int u = 0; u < 4; u++) {
            const __m512i v = Q5 ? _mm512_loadu_si512((const void *) (blk + 64 * u)) : _mm512_load_si512((const void *) (blk + 64 * u));
            w[u] = _mm512_and_si512(v, m4);
            w[4 + u] = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
        }
        __m512 dw, mw;
        if constexpr (Q6) {
            for (int v = 0; v < 8; v++) {
                uint64_t bits4, bits5;
                memcpy(&bits4, blk + 256 + 8 * v, 8);
                memcpy(&bits5, blk + 320 + 8 * v, 8);
                w[v] = _mm512_mask_add_epi8(w[v], _cvtu64_mask64(bits4), w[v], b4);
                w[v] = _mm512_mask_add_epi8(w[v], _cvtu64_mask64(bits5), w[v], b5);
            }
            dw = _mm512_load_ps(blk + 384); // the first half's d * sc
            mw = _mm512_load_ps(blk + 448); // the second half's
        } else if constexpr (Q5) {
            for (int v = 0; v < 8; v++) {
                uint64_t bits;
                memcpy(&bits, blk + 256 + 8 * v, 8);
                w[v] = _mm512_mask_add_epi8(w[v], _cvtu64_mask64(bits), w[v], b4);
            }
            dw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *) (blk + 320)));
            mw = _mm512_mul_ps(dw, _mm512_set1_ps(-16.0f)); // exact
        } else if constexpr (T == rd_bk_type::q4_k) {
            dw = _mm512_load_ps(blk + 256);
            mw = _mm512_load_ps(blk + 320);
        } else {
            dw = _mm512_cvtph_ps(_mm256_load_si256((const __m256i *) (blk + 256)));
            mw = _mm512_cvtph_ps(_mm256_load_si256((const __m256i *) (blk + 288)));
        }
        // unrolled, so that each column's sums stay in registers (rolled, GCC kept them on the stack)
#pragma GCC unroll 8
        for (int c = 0; c < NC; c++) {
            const size_t cb = (size_t) (c0 + c) * j.nb + b;
            const int8_t * q = j.s->qx.data() + (size_t) (c0 + c) * d + (size_t) b * RD_BK_QK;
            const __m512 xd = _mm512_set1_ps(j.s->dx[cb]);
            // each activation dword broadcast straight from memory (a load, no shuffle port)
            if constexpr (Q6) { // per half: d sc dx (isum - 32 hsum)
                __m512i s0 = _mm512_set1_epi32(-32 * j.s->hs[2 * cb]), s1 = _mm512_set1_epi32(-32 * j.s->hs[2 * cb + 1]);
                for (int t = 0; t < 4; t++) {
                    s0 = _mm512_dpbusd_epi32(s0, w[t], _mm512_broadcastd_epi32(_mm_loadu_si32(q + 4 * t)));
                    s1 = _mm512_dpbusd_epi32(s1, w[4 + t], _mm512_broadcastd_epi32(_mm_loadu_si32(q + 16 + 4 * t)));
                }
                a[c] = _mm512_fmadd_ps(_mm512_mul_ps(dw, xd), _mm512_cvtepi32_ps(s0), a[c]);
                a[c] = _mm512_fmadd_ps(_mm512_mul_ps(mw, xd), _mm512_cvtepi32_ps(s1), a[c]);
                continue;
            }
            __m512i s0 = _mm512_setzero_si512(), s1 = _mm512_setzero_si512(); // two chains, added
            for (int t = 0; t < 4; t++) {
                s0 = _mm512_dpbusd_epi32(s0, w[t], _mm512_broadcastd_epi32(_mm_loadu_si32(q + 4 * t)));
                s1 = _mm512_dpbusd_epi32(s1, w[4 + t], _mm512_broadcastd_epi32(_mm_loadu_si32(q + 16 + 4 * t)));
            }
            a[c] = _mm512_fmadd_ps(_mm512_mul_ps(dw, xd), _mm512_cvtepi32_ps(_mm512_add_epi32(s0, s1)), a[c]);
            m[c] = _mm512_fmadd_ps(mw, _mm512_set1_ps(j.s->sx[cb]), m[c]);
        }
    }
    for (int c = 0; c < NC; c++) _mm512_storeu_ps(j.y + (size_t) (c0 + c) * j.y_stride + r, _mm512_add_ps(a[c], m[c]));
}

// f.run<NC>(c) for the K columns in tiles of up to 8 from c = 0.
template <class F> RD_AVX512 void tiles8(int32_t K, const F & f) {
    for (int32_t c = 0; c < K; c += 8) {
        switch (std::min(8, K - c)) {
        case 8: f.template run<8>(c); break;
        case 7: f.template run<7>(c); break;
        case 6: f.template run<6>(c); break;
        case 5: f.template run<5>(c); break;
        case 4: f.template run<4>(c); break;
        case 3: f.template run<3>(c); break;
        case 2: f.template run<2>(c); break;
        default: f.template run<1>(c); break;
        }
    }
}

template <rd_bk_type T> struct packed16 { // a packed group of 16 rows
    const rd_bk_job & j;
    int32_t r;
    template <int NC> RD_AVX512 void run(int32_t c) const { group16_avx512<NC, T>(j, r, c); }
};
struct inplace8 { // 8 rows read in place
    const rd_bk_job & j;
    int32_t r;
    template <int NC> RD_AVX512 void run(int32_t c) const { group8_avx512<NC>(j, r, c); }
};

// The packed groups from r0 (packed_end), then groups of 8 rows in place, then a last group of 4
// rows (the 4-row kernel).
RD_AVX512 void rows_avx512(const rd_bk_job & j, int32_t r0, int32_t r1) {
    int32_t r = r0;
    for (const int32_t end = packed_end(j, r0, r1); r < end; r += RD_BK_PACK_ROWS) tiles8(j.K, packed16<rd_bk_type::q4_1>{j, r});
    for (; r + 8 <= r1; r += 8) tiles8(j.K, inplace8{j, r});
    tile_avx512_rows(j, r, r1);
}

// ---- the activations (body_kernel.h's rules, as rd_bk_quantize_ref applies them) ----

// One block of 32 floats at v: false when one is NaN or infinite; else q, its sum, and amax.
RD_AVX2 RD_INLINE bool quantize_block(const float * v, int8_t * q, int32_t & sum, float & amax) {
    const __m256 sign = _mm256_set1_ps(-0.0f), inf = _mm256_set1_ps(INFINITY);
    __m256 x[4], a = _mm256_setzero_ps(), finite = _mm256_castsi256_ps(_mm256_set1_epi32(-1));
    for (int i = 0; i < 4; i++) {
        x[i] = _mm256_loadu_ps(v + 8 * i);
        const __m256 ab = _mm256_andnot_ps(sign, x[i]);
        finite = _mm256_and_ps(finite, _mm256_cmp_ps(ab, inf, _CMP_LT_OQ)); // false for NaN too
        a = _mm256_max_ps(a, ab);
    }
    if (_mm256_movemask_ps(finite) != 0xFF) return false;
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    amax = _mm_cvtss_f32(m);
    const __m256 id = _mm256_set1_ps(amax != 0.0f ? 127.0f / amax : 0.0f);
    __m256i qi[4], total = _mm256_setzero_si256();
    for (int i = 0; i < 4; i++) { // round to nearest even, as nearbyint in the default mode
        qi[i] = _mm256_cvtps_epi32(_mm256_mul_ps(x[i], id));
        total = _mm256_add_epi32(total, qi[i]);
    }
    // int32 -> int8 in element order: the packs interleave 128-bit lanes, the permute undoes it
    const __m256i p16a = _mm256_packs_epi32(qi[0], qi[1]), p16b = _mm256_packs_epi32(qi[2], qi[3]);
    const __m256i p8 = _mm256_packs_epi16(p16a, p16b);
    _mm256_storeu_si256((__m256i *) q, _mm256_permutevar8x32_epi32(p8, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
    __m128i t = _mm_add_epi32(_mm256_castsi256_si128(total), _mm256_extracti128_si256(total, 1));
    t = _mm_add_epi32(t, _mm_shuffle_epi32(t, _MM_SHUFFLE(1, 0, 3, 2)));
    t = _mm_add_epi32(t, _mm_shuffle_epi32(t, _MM_SHUFFLE(2, 3, 0, 1)));
    sum = _mm_cvtsi128_si32(t);
    return true;
}

RD_AVX2 void quantize_avx2(const float * x, size_t x_stride, int32_t K, int32_t d, rd_bk_scratch & s) {
    const int32_t nb = d / RD_BK_QK;
    for (int32_t c = 0; c < K; c++)
        for (int32_t b = 0; b < nb; b++) {
            const size_t cb = (size_t) c * nb + b;
            int8_t * q = s.qx.data() + (size_t) c * d + (size_t) b * RD_BK_QK;
            int32_t sum = 0;
            float amax = 0.0f;
            if (!quantize_block(x + (size_t) c * x_stride + (size_t) b * RD_BK_QK, q, sum, amax)) {
                memset(q, 0, RD_BK_QK);
                s.dx[cb] = s.sx[cb] = NAN;
            } else {
                s.dx[cb] = amax / 127.0f;
                s.sx[cb] = s.dx[cb] * (float) sum;
            }
            const __m256i qv = _mm256_loadu_si256((const __m256i *) q);
            // the halves' sums: bytes + 128 summed by 8 (sad against 0), less 8 * 128 each
            const __m256i sad = _mm256_sad_epu8(_mm256_xor_si256(qv, _mm256_set1_epi8(-128)), _mm256_setzero_si256());
            const __m128i h = _mm_add_epi64(_mm256_castsi256_si128(_mm256_permute4x64_epi64(sad, _MM_SHUFFLE(3, 1, 2, 0))),
                                            _mm256_castsi256_si128(_mm256_permute4x64_epi64(sad, _MM_SHUFFLE(2, 0, 3, 1))));
            s.hs[2 * cb] = (int32_t) _mm_cvtsi128_si64(h) - 16 * 128;
            s.hs[2 * cb + 1] = (int32_t) _mm_extract_epi64(h, 1) - 16 * 128;
            // pattern j: dword j of the block four times, then dword 4 + j (rd_bk_quantize_ref)
            uint8_t * p = s.pat.data() + cb * RD_BK_PAT;
            for (int j = 0; j < 4; j++) {
                const __m256i idx = _mm256_setr_epi32(j, j, j, j, 4 + j, 4 + j, 4 + j, 4 + j);
                _mm256_storeu_si256((__m256i *) (p + 32 * j), _mm256_permutevar8x32_epi32(qv, idx));
            }
        }
}

} // namespace

int32_t rd_bk_rows_packed_x86(const rd_bk_job & j, int32_t r0, int32_t r1) {
    const int32_t end = packed_end(j, r0, r1);
    for (int32_t r = r0; r < end; r += RD_BK_PACK_ROWS) {
        switch (j.type) {
        case rd_bk_type::q5_0: tiles8(j.K, packed16<rd_bk_type::q5_0>{j, r}); break;
        case rd_bk_type::q4_k: tiles8(j.K, packed16<rd_bk_type::q4_k>{j, r}); break;
        case rd_bk_type::q6_k: tiles8(j.K, packed16<rd_bk_type::q6_k>{j, r}); break;
        default: return r;
        }
    }
    return end;
}

bool rd_bk_quantize_x86(const float * x, size_t x_stride, int32_t K, int32_t d, rd_bk_scratch & s) {
    quantize_avx2(x, x_stride, K, d, s);
    return true;
}

// Whole groups from r0 (r1 - r0 a multiple of RD_BK_ROWS).
bool rd_bk_rows_x86(const rd_bk_job & j, int32_t r0, int32_t r1, rd_hk_isa isa) {
    switch (isa) {
    case rd_hk_isa::avx2: tile_avx2_rows(j, packed_avx2_rows(j, r0, r1), r1); return true;
    case rd_hk_isa::avx2_vnni: tile_avx2_vnni_rows(j, packed_avx2_vnni_rows(j, r0, r1), r1); return true;
    case rd_hk_isa::avx512_vnni: rows_avx512(j, r0, r1); return true;
    default: return false;
    }
}

#else

bool rd_bk_rows_x86(const rd_bk_job &, int32_t, int32_t, rd_hk_isa) { return false; }
int32_t rd_bk_rows_packed_x86(const rd_bk_job &, int32_t r0, int32_t) { return r0; }
bool rd_bk_quantize_x86(const float *, size_t, int32_t, int32_t, rd_bk_scratch &) { return false; }

#endif
