// head_kernel_x86.cpp - the Q8_0 head kernel's x86 paths (AVX-512 VNNI, AVX2 with AVX-VNNI,
// AVX2), compiled with per-function target attributes so one binary runs on any x86-64 and picks
// a path at run time (head_kernel.cpp), and the kernel lookup of every type. The arithmetic is
// head_kernel.h's; only isum is computed differently, exactly.
//
// Shape of one block step (16 rows of a group, block b; 8 rows per half for AVX2): each row's 32
// quants are 8 dwords. Four rows are transposed in registers so that lane l holds row l's dword j
// (and dword 4 + j in the upper 128 bits); the activation pattern of the same shape
// (head_kernel_impl.h) then multiplies all rows at once and the 8 dword products of a row add up
// inside its own lane: no horizontal sum per row and column. The transpose is paid once per
// block for all K columns; each column costs 8 vpdpbusd per 16 rows.
#include "head_kernel_impl.h"

#if defined(__x86_64__) || defined(__i386__)

#include "head_kernel_x86.h"


namespace {

// ---- AVX-512: 16 rows per step ----

// [row at lo (32 quants) | row at hi]
RD_AVX512 RD_INLINE __m512i rows2_512(const uint8_t * lo, const uint8_t * hi) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *) lo)),
                              _mm256_loadu_si256((const __m256i *) hi), 1);
}

RD_AVX512 RD_INLINE __m512i bcast256(const uint8_t * p) {
    return _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *) p));
}

// The scales of block b of rows r0.. (w.scales: [G][nb][16]).
RD_INLINE const uint16_t * scales(const rd_hk_matrix & w, int32_t r0, int32_t b) {
    return w.scales.data() + ((size_t) (r0 / RD_HK_GROUP) * w.nb + b) * RD_HK_GROUP + r0 % RD_HK_GROUP;
}

// Block b of 16 rows, quants + 128: a = rows 0-3 (lower 256 bits) and 4-7, e = rows 8-11 and
// 12-15, transposed.
struct block512 {
    __m512i a[4], e[4];

    RD_AVX512 RD_INLINE __m512 load(const rd_hk_job & j, int32_t r0, int32_t b) {
        const rd_hk_matrix & w = *j.w;
        const size_t rb = w.row_bytes;
        const uint8_t * p = w.q + (size_t) r0 * rb + (size_t) b * 34 + 2; // + 2: past the block's fp16 scale
        const __m512i flip = _mm512_set1_epi8((char) 0x80);
        for (int i = 0; i < 4; i++) {
            a[i] = _mm512_xor_si512(rows2_512(p + i * rb, p + (4 + i) * rb), flip);
            e[i] = _mm512_xor_si512(rows2_512(p + (8 + i) * rb, p + (12 + i) * rb), flip);
        }
        rd_tr4_512(a);
        rd_tr4_512(e);
        return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *) scales(w, r0, b)));
    }

    RD_AVX512 RD_INLINE __m512i isum(const rd_hk_job & j, int c, int32_t b) const {
        const uint8_t * pt = j.pat + ((size_t) c * j.w->nb + b) * RD_HK_PAT;
        __m512i sa = bcast256(pt + RD_HK_CORR), se = sa;
        for (int t = 0; t < 4; t++) {
            const __m512i x = bcast256(pt + 32 * t);
            sa = _mm512_dpbusd_epi32(sa, a[t], x);
            se = _mm512_dpbusd_epi32(se, e[t], x);
        }
        // 128-bit lanes of sa: rows 0-3 bytes 0-15, rows 0-3 bytes 16-31, rows 4-7 ..., ...
        return _mm512_add_epi32(_mm512_shuffle_i32x4(sa, se, 0x88), _mm512_shuffle_i32x4(sa, se, 0xDD));
    }
};

// ---- AVX2: 8 rows per step, with AVX-VNNI (vpdpbusd) or without (vpmaddubsw + vpmaddwd) ----

// isum of rows 0-3 (a) and 4-7 (e), transposed, against the column's pattern pt.
struct dot_avx2 {
    static constexpr bool flip = false;
    RD_AVX2 static RD_INLINE __m256i sum(const __m256i * a, const __m256i * abs_a, const uint8_t * pt) {
        const __m256i ones = _mm256_set1_epi16(1);
        __m256i s = _mm256_setzero_si256();
        for (int t = 0; t < 4; t++) {
            // |w| * (x with w's sign): the u8 x s8 pairs of vpmaddubsw stay below 2 * 128 * 127
            const __m256i pr = _mm256_maddubs_epi16(abs_a[t], _mm256_sign_epi8(rd_load256(pt + 32 * t), a[t]));
            s = _mm256_add_epi32(s, _mm256_madd_epi16(pr, ones));
        }
        return s;
    }
};

struct dot_avxvnni {
    static constexpr bool flip = true;
    RD_AVX2 static RD_INLINE __m256i sum(const __m256i * a, const __m256i *, const uint8_t * pt) {
        __m256i s = rd_load256(pt + RD_HK_CORR);
        for (int t = 0; t < 4; t++) s = rd_dpbusd_vex(s, a[t], rd_load256(pt + 32 * t));
        return s;
    }
};

// Block b of 8 rows: a = rows 0-3, e = rows 4-7, transposed (+ 128 for vpdpbusd, else with
// their magnitudes for vpmaddubsw).
template <class Dot> struct block256 {
    __m256i a[4], e[4], abs_a[4], abs_e[4];

    RD_AVX2 RD_INLINE __m256 load(const rd_hk_job & j, int32_t r0, int32_t b) {
        const rd_hk_matrix & w = *j.w;
        const size_t rb = w.row_bytes;
        const uint8_t * p = w.q + (size_t) r0 * rb + (size_t) b * 34 + 2;
        const __m256i flip = _mm256_set1_epi8((char) 0x80);
        for (int i = 0; i < 4; i++) {
            a[i] = rd_load256(p + i * rb);
            e[i] = rd_load256(p + (4 + i) * rb);
            if (Dot::flip) a[i] = _mm256_xor_si256(a[i], flip), e[i] = _mm256_xor_si256(e[i], flip);
        }
        rd_tr4_256(a);
        rd_tr4_256(e);
        if (!Dot::flip)
            for (int t = 0; t < 4; t++) abs_a[t] = _mm256_abs_epi8(a[t]), abs_e[t] = _mm256_abs_epi8(e[t]);
        return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *) scales(w, r0, b)));
    }

    RD_AVX2 RD_INLINE __m256i isum(const rd_hk_job & j, int c, int32_t b) const {
        const uint8_t * pt = j.pat + ((size_t) c * j.w->nb + b) * RD_HK_PAT;
        const __m256i sa = Dot::sum(a, abs_a, pt), se = Dot::sum(e, abs_e, pt);
        // 128-bit halves: rows 0-3 bytes 0-15 | rows 0-3 bytes 16-31 (sa), the same for 4-7 (se)
        return _mm256_add_epi32(_mm256_permute2x128_si256(sa, se, 0x20), _mm256_permute2x128_si256(sa, se, 0x31));
    }
};

using kernels = rd_hk_x86_int_kernels<block512, block256<dot_avxvnni>, block256<dot_avx2>>;

} // namespace

bool rd_hk_x86_supported(rd_hk_isa isa) {
    __builtin_cpu_init();
    const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
    switch (isa) {
    case rd_hk_isa::avx512_vnni:
        return avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni");
    case rd_hk_isa::avx2_vnni: return avx2 && __builtin_cpu_supports("avxvnni");
    case rd_hk_isa::avx2: return avx2;
    default: return false;
    }
}

rd_hk_groups_fn rd_hk_x86_kernel(ggml_type type, rd_hk_isa isa, int32_t K) {
    if (type == GGML_TYPE_Q6_K) return rd_hk_x86_q6_k(isa, K);
    if (type == GGML_TYPE_F16) return rd_hk_x86_f16(isa, K);
    if (type != GGML_TYPE_Q8_0) return nullptr;
    return rd_hk_x86_pick<kernels>(isa, K);
}

#else

bool rd_hk_x86_supported(rd_hk_isa) { return false; }
rd_hk_groups_fn rd_hk_x86_kernel(ggml_type, rd_hk_isa, int32_t) { return nullptr; }

#endif
