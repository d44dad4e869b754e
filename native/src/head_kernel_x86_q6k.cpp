// head_kernel_x86_q6k.cpp - the Q6_K head kernel's x86 paths (AVX-512 VNNI, AVX2 with AVX-VNNI,
// AVX2). The arithmetic is head_kernel.h's; only isum is computed differently, exactly.
//
// Rows in lanes, as for Q8_0 (head_kernel_x86.cpp): per group of 16 rows (8 per AVX2 vector) and
// super-block, the 6-bit quants are unpacked to bytes 0..63 and transposed once for all K
// columns, so that for sub-block s and t = 0..3 one vector holds every row's dword t of s (lane
// 4 k + l = row 4 k + l: four rows per 128-bit lane, transposed in registers). A column then
// costs, per sub-block and 16 rows, 4 vpdpbusd against a broadcast activation dword (unsigned
// quants times signed qx, started at -32 x the sub-block's qx sum: exactly sum (q - 32) qx), one
// vpmulld by the rows' sub-block scales and one add: no horizontal sums.
#include "head_kernel_impl.h"

#if defined(__x86_64__) || defined(__i386__)

#include "head_kernel_x86.h"

#include <cstring>

namespace {

constexpr int32_t QK = 256;

inline int32_t dword_at(const int8_t * p) {
    int32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

// ---- AVX-512: 16 rows per vector ----

// 16 bytes at p of rows i, 4 + i, 8 + i, 12 + i (row stride rb), one per 128-bit lane.
RD_AVX512 RD_INLINE __m512i rows4(const uint8_t * p, size_t rb, int i) {
    __m512i v = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *) (p + i * rb)));
    v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *) (p + (4 + i) * rb)), 1);
    v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *) (p + (8 + i) * rb)), 2);
    return _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *) (p + (12 + i) * rb)), 3);
}

// One super-block of a group's rows, unpacked and transposed: q[s][t] = the rows' dword t of
// sub-block s (quants 0..63), sc[s] = the rows' scales of s.
struct prep512 {
    __m512i q[16][4];
    __m512i sc[16];
};

// The rows' scales in int32 lanes, from v[q] = the rows' scale dword q (sub-blocks 4q..4q+3).
RD_AVX512 RD_INLINE void scales512(const __m512i * v, __m512i * sc) {
    for (int q = 0; q < 4; q++) {
        sc[4 * q + 0] = _mm512_srai_epi32(_mm512_slli_epi32(v[q], 24), 24);
        sc[4 * q + 1] = _mm512_srai_epi32(_mm512_slli_epi32(v[q], 16), 24);
        sc[4 * q + 2] = _mm512_srai_epi32(_mm512_slli_epi32(v[q], 8), 24);
        sc[4 * q + 3] = _mm512_srai_epi32(v[q], 24);
    }
}

// p: the super-block of the group's first row. Quant 32 u + 16 c + k of a half h (u = 0..3,
// c = 0..1, k = 0..15: sub-block 8 h + 2 u + c) has its low 4 bits in byte 16 c + k of the ql
// chunk 64 h + 32 (u & 1) (low nibble for u < 2) and its high 2 bits at bit 2 u of byte
// 32 h + 16 c + k of qh (head_kernel_q6k.cpp, unpack). Returns the rows' super-block scales.
RD_AVX512 RD_INLINE __m512 prepare512(const uint8_t * p, size_t rb, prep512 & o) {
    const __m512i m4 = _mm512_set1_epi8(0x0F), m2 = _mm512_set1_epi8(0x30);
    for (int h = 0; h < 2; h++)
        for (int c = 0; c < 2; c++) {
            __m512i v[4][4]; // [u][row set i]
            for (int i = 0; i < 4; i++) {
                const __m512i l0 = rows4(p + 64 * h + 16 * c, rb, i), l1 = rows4(p + 64 * h + 32 + 16 * c, rb, i);
                const __m512i hb = rows4(p + RD_HK_Q6K_QH + 32 * h + 16 * c, rb, i);
                // 16-bit shifts: what crosses into the neighbouring byte is masked off
                v[0][i] = _mm512_or_si512(_mm512_and_si512(l0, m4), _mm512_and_si512(_mm512_slli_epi16(hb, 4), m2));
                v[1][i] = _mm512_or_si512(_mm512_and_si512(l1, m4), _mm512_and_si512(_mm512_slli_epi16(hb, 2), m2));
                v[2][i] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(l0, 4), m4), _mm512_and_si512(hb, m2));
                v[3][i] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(l1, 4), m4),
                                          _mm512_and_si512(_mm512_srli_epi16(hb, 2), m2));
            }
            for (int u = 0; u < 4; u++) {
                rd_tr4_512(v[u]);
                for (int t = 0; t < 4; t++) o.q[8 * h + 2 * u + c][t] = v[u][t];
            }
        }
    __m512i s[4];
    for (int i = 0; i < 4; i++) s[i] = rows4(p + RD_HK_Q6K_SC, rb, i);
    rd_tr4_512(s);
    scales512(s, o.sc);
    alignas(32) uint16_t dh[16];
    for (int r = 0; r < 16; r++) memcpy(&dh[r], p + (size_t) r * rb + RD_HK_Q6K_D, 2);
    return _mm512_cvtph_ps(_mm256_load_si256((const __m256i *) dh));
}

// Block b of 16 rows for rd_hk_groups_int512.
struct block512 {
    prep512 o;

    RD_AVX512 RD_INLINE __m512 load(const rd_hk_job & j, int32_t r0, int32_t b) {
        return prepare512(j.w->q + (size_t) r0 * j.w->row_bytes + (size_t) b * RD_HK_Q6K_BYTES, j.w->row_bytes, o);
    }

    RD_AVX512 RD_INLINE __m512i isum(const rd_hk_job & j, int c, int32_t b) const {
        const int8_t * x = j.qx + (size_t) c * j.w->d + (size_t) b * QK;
        const int32_t * corr = j.corr + ((size_t) c * j.w->nb + b) * 16;
        __m512i isum = _mm512_setzero_si512();
        for (int s = 0; s < 16; s++) {
            __m512i sub = _mm512_set1_epi32(corr[s]);
            for (int t = 0; t < 4; t++)
                sub = _mm512_dpbusd_epi32(sub, o.q[s][t], _mm512_set1_epi32(dword_at(x + 16 * s + 4 * t)));
            isum = _mm512_add_epi32(isum, _mm512_mullo_epi32(sub, o.sc[s]));
        }
        return isum;
    }
};

// ---- AVX2: 8 rows per vector, with AVX-VNNI (vpdpbusd) or without (vpmaddubsw + vpmaddwd) ----

// 16 bytes at p of rows i and 4 + i, one per 128-bit lane.
RD_AVX2 RD_INLINE __m256i rows2(const uint8_t * p, size_t rb, int i) {
    return _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *) (p + i * rb))),
                                   _mm_loadu_si128((const __m128i *) (p + (4 + i) * rb)), 1);
}

struct prep256 {
    __m256i q[16][4];
    __m256i sc[16];
};

RD_AVX2 RD_INLINE void scales256(const __m256i * v, __m256i * sc) {
    for (int q = 0; q < 4; q++) {
        sc[4 * q + 0] = _mm256_srai_epi32(_mm256_slli_epi32(v[q], 24), 24);
        sc[4 * q + 1] = _mm256_srai_epi32(_mm256_slli_epi32(v[q], 16), 24);
        sc[4 * q + 2] = _mm256_srai_epi32(_mm256_slli_epi32(v[q], 8), 24);
        sc[4 * q + 3] = _mm256_srai_epi32(v[q], 24);
    }
}

// prepare512 for 8 rows.
RD_AVX2 RD_INLINE __m256 prepare256(const uint8_t * p, size_t rb, prep256 & o) {
    const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(0x30);
    for (int h = 0; h < 2; h++)
        for (int c = 0; c < 2; c++) {
            __m256i v[4][4];
            for (int i = 0; i < 4; i++) {
                const __m256i l0 = rows2(p + 64 * h + 16 * c, rb, i), l1 = rows2(p + 64 * h + 32 + 16 * c, rb, i);
                const __m256i hb = rows2(p + RD_HK_Q6K_QH + 32 * h + 16 * c, rb, i);
                v[0][i] = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_and_si256(_mm256_slli_epi16(hb, 4), m2));
                v[1][i] = _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_and_si256(_mm256_slli_epi16(hb, 2), m2));
                v[2][i] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), _mm256_and_si256(hb, m2));
                v[3][i] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                                          _mm256_and_si256(_mm256_srli_epi16(hb, 2), m2));
            }
            for (int u = 0; u < 4; u++) {
                rd_tr4_256(v[u]);
                for (int t = 0; t < 4; t++) o.q[8 * h + 2 * u + c][t] = v[u][t];
            }
        }
    __m256i s[4];
    for (int i = 0; i < 4; i++) s[i] = rows2(p + RD_HK_Q6K_SC, rb, i);
    rd_tr4_256(s);
    scales256(s, o.sc);
    alignas(16) uint16_t dh[8];
    for (int r = 0; r < 8; r++) memcpy(&dh[r], p + (size_t) r * rb + RD_HK_Q6K_D, 2);
    return _mm256_cvtph_ps(_mm_load_si128((const __m128i *) dh));
}

// sum (q - 32) qx of sub-block s for the 8 rows: corr + the 16 products of each row.
struct dot_avx2 {
    RD_AVX2 static RD_INLINE __m256i sum(const __m256i * q, int32_t corr, const int8_t * x) {
        // u8 x s8 pairs of vpmaddubsw: at most 2 * 63 * 127 in magnitude, two of them fit int16
        const __m256i ones = _mm256_set1_epi16(1);
        const __m256i p01 = _mm256_add_epi16(_mm256_maddubs_epi16(q[0], _mm256_set1_epi32(dword_at(x))),
                                             _mm256_maddubs_epi16(q[1], _mm256_set1_epi32(dword_at(x + 4))));
        const __m256i p23 = _mm256_add_epi16(_mm256_maddubs_epi16(q[2], _mm256_set1_epi32(dword_at(x + 8))),
                                             _mm256_maddubs_epi16(q[3], _mm256_set1_epi32(dword_at(x + 12))));
        return _mm256_add_epi32(_mm256_set1_epi32(corr),
                                _mm256_add_epi32(_mm256_madd_epi16(p01, ones), _mm256_madd_epi16(p23, ones)));
    }
};

struct dot_avxvnni {
    RD_AVX2 static RD_INLINE __m256i sum(const __m256i * q, int32_t corr, const int8_t * x) {
        __m256i s = _mm256_set1_epi32(corr);
        for (int t = 0; t < 4; t++) s = rd_dpbusd_vex(s, q[t], _mm256_set1_epi32(dword_at(x + 4 * t)));
        return s;
    }
};

// Block b of 8 rows for rd_hk_groups_int256.
template <class Dot> struct block256 {
    prep256 o;

    RD_AVX2 RD_INLINE __m256 load(const rd_hk_job & j, int32_t r0, int32_t b) {
        return prepare256(j.w->q + (size_t) r0 * j.w->row_bytes + (size_t) b * RD_HK_Q6K_BYTES, j.w->row_bytes, o);
    }

    RD_AVX2 RD_INLINE __m256i isum(const rd_hk_job & j, int c, int32_t b) const {
        const int8_t * x = j.qx + (size_t) c * j.w->d + (size_t) b * QK;
        const int32_t * corr = j.corr + ((size_t) c * j.w->nb + b) * 16;
        __m256i isum = _mm256_setzero_si256();
        for (int s = 0; s < 16; s++)
            isum = _mm256_add_epi32(isum, _mm256_mullo_epi32(Dot::sum(o.q[s], corr[s], x + 16 * s), o.sc[s]));
        return isum;
    }
};

using kernels = rd_hk_x86_int_kernels<block512, block256<dot_avxvnni>, block256<dot_avx2>>;

} // namespace

rd_hk_groups_fn rd_hk_x86_q6_k(rd_hk_isa isa, int32_t K) {
    return rd_hk_x86_pick<kernels>(isa, K);
}

#endif
