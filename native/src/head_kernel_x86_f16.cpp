// head_kernel_x86_f16.cpp - the F16 head kernel's x86 paths: AVX-512F (one zmm holds the 16 lane
// sums of head_kernel.h) and AVX2 + F16C (two ymm: lanes 0-7 and 8-15). The sums, the fused steps
// and the final tree are head_kernel.h's, so the bits equal the scalar reference's.
//
// A call covers R rows x CB columns at a time: the R rows' 16 weights are converted once per step
// and reused for the CB columns (loaded per step from the fp16-rounded activations), R x CB
// independent accumulators keep the FMA pipes busy, and a group's rows are read again for each
// block of columns, from cache.
#include "head_kernel_impl.h"

#if defined(__x86_64__) || defined(__i386__)

#include "head_kernel_x86.h"


namespace {

// Rows per AVX-512 call for CB columns: about 16 accumulators whatever CB (R divides
// RD_HK_GROUP), with the CB activation vectors and one weight vector 21 of 32 registers at most.
template <int CB> constexpr int rows_for() { return CB >= 3 ? 4 : CB == 2 ? 8 : 16; }

// s8 (s8[i] = a[i] + a[i + 8]) -> (s4[0] + s4[2]) + (s4[1] + s4[3]).
RD_AVX2 RD_INLINE float tree8(__m256 s8) {
    const __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
    const __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
    return _mm_cvtss_f32(_mm_add_ss(s2, _mm_shuffle_ps(s2, s2, 1)));
}

// ---- AVX-512 ----

template <int R, int CB>
RD_AVX512 RD_INLINE void block512(const rd_hk_job & j, int32_t r0, int32_t c0) {
    const rd_hk_matrix & w = *j.w;
    const size_t d = (size_t) w.d;
    const uint8_t * row = w.q + (size_t) r0 * w.row_bytes;
    __m512 acc[R][CB];
    for (int r = 0; r < R; r++)
        for (int c = 0; c < CB; c++) acc[r][c] = _mm512_setzero_ps();
    // a whole group of rows at once (one or two columns): the next group's bytes, contiguous in
    // W, prefetched a slice per step of k (head_kernel_x86.h)
    const size_t slice = R * w.row_bytes / (d / 16);
    for (size_t k = 0; k < d; k += 16) {
        if constexpr (R == RD_HK_GROUP) rd_prefetch(row + R * w.row_bytes + (k / 16) * slice, slice);
        __m512 x[CB];
        for (int c = 0; c < CB; c++) x[c] = _mm512_loadu_ps(j.xh + (size_t) (c0 + c) * d + k);
        for (int r = 0; r < R; r++) {
            const __m512 wv = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *) (row + r * w.row_bytes + 2 * k)));
            for (int c = 0; c < CB; c++) acc[r][c] = _mm512_fmadd_ps(wv, x[c], acc[r][c]);
        }
    }
    for (int r = 0; r < R; r++)
        for (int c = 0; c < CB; c++) {
            const __m512 a = acc[r][c];
            const __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a), 1));
            j.y[(size_t) (c0 + c) * w.V + (size_t) (r0 + r)] = tree8(_mm256_add_ps(_mm512_castps512_ps256(a), hi));
        }
}

template <int K>
RD_AVX512 void groups_avx512(const rd_hk_job & j, int32_t g0, int32_t g1) {
    constexpr int T = K % 4, RT = rows_for<T>();
    for (int32_t r = g0 * RD_HK_GROUP; r < g1 * RD_HK_GROUP; r += RD_HK_GROUP) {
        for (int c0 = 0; c0 + 4 <= K; c0 += 4)
            for (int i = 0; i < RD_HK_GROUP; i += 4) block512<4, 4>(j, r + i, c0);
        if constexpr (T > 0)
            for (int i = 0; i < RD_HK_GROUP; i += RT) block512<RT, T>(j, r + i, K - T);
    }
}

// ---- AVX2: the 16 lanes in two halves ----

template <int R, int CB>
RD_AVX2 RD_INLINE void block256(const rd_hk_job & j, int32_t r0, int32_t c0) {
    const rd_hk_matrix & w = *j.w;
    const size_t d = (size_t) w.d;
    const uint8_t * row = w.q + (size_t) r0 * w.row_bytes;
    __m256 lo[R][CB], hi[R][CB];
    for (int r = 0; r < R; r++)
        for (int c = 0; c < CB; c++) lo[r][c] = hi[r][c] = _mm256_setzero_ps();
    for (size_t k = 0; k < d; k += 16) {
        __m256 x0[CB], x1[CB];
        for (int c = 0; c < CB; c++) {
            x0[c] = _mm256_loadu_ps(j.xh + (size_t) (c0 + c) * d + k);
            x1[c] = _mm256_loadu_ps(j.xh + (size_t) (c0 + c) * d + k + 8);
        }
        for (int r = 0; r < R; r++) {
            const uint8_t * p = row + r * w.row_bytes + 2 * k;
            const __m256 wl = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *) p));
            const __m256 wh = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *) (p + 16)));
            for (int c = 0; c < CB; c++) {
                lo[r][c] = _mm256_fmadd_ps(wl, x0[c], lo[r][c]);
                hi[r][c] = _mm256_fmadd_ps(wh, x1[c], hi[r][c]);
            }
        }
    }
    for (int r = 0; r < R; r++)
        for (int c = 0; c < CB; c++)
            j.y[(size_t) (c0 + c) * w.V + (size_t) (r0 + r)] = tree8(_mm256_add_ps(lo[r][c], hi[r][c]));
}

template <int K>
RD_AVX2 void groups_avx2(const rd_hk_job & j, int32_t g0, int32_t g1) {
    for (int32_t r = g0 * RD_HK_GROUP; r < g1 * RD_HK_GROUP; r += RD_HK_GROUP) {
        for (int c0 = 0; c0 + 2 <= K; c0 += 2)
            for (int i = 0; i < RD_HK_GROUP; i += 2) block256<2, 2>(j, r + i, c0);
        if constexpr (K % 2 == 1)
            for (int i = 0; i < RD_HK_GROUP; i += 4) block256<4, 1>(j, r + i, K - 1);
    }
}

// no AVX-VNNI path: F16 has no integer dot product to gain from it
struct kernels {
    template <int K> static constexpr rd_hk_groups_fn avx512 = &groups_avx512<K>;
    template <int K> static constexpr rd_hk_groups_fn avx2_vnni = &groups_avx2<K>;
    template <int K> static constexpr rd_hk_groups_fn avx2 = &groups_avx2<K>;
};

} // namespace

rd_hk_groups_fn rd_hk_x86_f16(rd_hk_isa isa, int32_t K) {
    return rd_hk_x86_pick<kernels>(isa, K);
}

#endif
