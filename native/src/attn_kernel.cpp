// attn_kernel.cpp - the attention of attn_kernel.h: AVX-512 and AVX2 paths and a portable one
// that run the same operations lane by lane (fma per element, the same sum orders, the same exp),
// so all write the same bits and the tests hold the SIMD path to the portable one.
#include "attn_kernel.h"

#include "head_kernel.h" // rd_fp16_at, rd_hk_isa_supported

#include <algorithm>
#include <cmath>
#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#include "head_kernel_x86.h" // RD_AVX2, RD_INLINE
#define RD_ATTN_X86 1
#endif

bool rd_attn_dims_ok(int32_t D, int32_t Dv) {
    return D > 0 && Dv > 0 && D % 8 == 0 && Dv % 8 == 0 && D <= RD_ATTN_MAX_D && Dv <= RD_ATTN_MAX_D;
}

namespace {

// exp(x) for x <= 0 (scores minus their maximum): x = n ln2 + r, |r| <= ln2 / 2, exp(r) by its
// Taylor polynomial to r^6 (relative error ~1.2e-7), times 2^n; below -87 it returns exp(-87).
constexpr float LOG2E = 1.44269504f, LN2_HI = 0.693145752f, LN2_LO = 1.42860677e-6f;
constexpr float C[7] = {1.0f, 1.0f, 1.0f / 2, 1.0f / 6, 1.0f / 24, 1.0f / 120, 1.0f / 720};

float exp_ref(float x) {
    x = std::max(x, -87.0f);
    const float n = std::nearbyint(x * LOG2E);
    float r = std::fma(-n, LN2_HI, x);
    r = std::fma(-n, LN2_LO, r);
    float p = C[6];
    for (int i = 5; i >= 0; i--) p = std::fma(p, r, C[i]);
    const int32_t e = ((int32_t) n + 127) << 23;
    float scale;
    memcpy(&scale, &e, sizeof scale);
    return p * scale;
}

// The fixed order of an 8-lane sum: ((l0 + l4) + (l2 + l6)) + ((l1 + l5) + (l3 + l7)).
float sum8_ref(const float * l) { return ((l[0] + l[4]) + (l[2] + l[6])) + ((l[1] + l[5]) + (l[3] + l[7])); }

// An f16 value at p (head_kernel.h's reader, for the byte pointers of ggml's tensors here).
float f16(const char * p) { return rd_fp16_at(reinterpret_cast<const uint8_t *>(p)); }

// Query i's live cells (mask value not -inf, one f16 bit pattern) and their mask values.
int32_t live_cells(const rd_attn_job & j, int32_t i, rd_attn_scratch & sc) {
    sc.live.resize((size_t) j.n_kv);
    sc.mv.resize((size_t) j.n_kv);
    if (!j.mask) {
        for (int32_t c = 0; c < j.n_kv; c++) sc.live[(size_t) c] = c, sc.mv[(size_t) c] = 0.0f;
        return j.n_kv;
    }
    const char * row = j.mask + (size_t) i * j.m_nb1;
    int32_t n = 0;
    for (int32_t c = 0; c < j.n_kv; c++) {
        uint16_t x;
        memcpy(&x, row + 2 * (size_t) c, sizeof x);
        if (x == 0xFC00) continue;
        sc.live[(size_t) n] = c;
        sc.mv[(size_t) n++] = f16(row + 2 * (size_t) c);
    }
    return n;
}

const float * q_row(const rd_attn_job & j, int32_t i, int32_t h) {
    return reinterpret_cast<const float *>(j.q + (size_t) i * j.q_nb1 + (size_t) h * j.q_nb2);
}
float * out_row(const rd_attn_job & j, int32_t i, int32_t h) {
    return reinterpret_cast<float *>(j.dst + (size_t) h * j.d_nb1 + (size_t) i * j.d_nb2);
}

// One unit, portable, over the n live cells in sc.
void unit_ref(const rd_attn_job & j, int32_t i, int32_t h, int32_t n, rd_attn_scratch & sc) {
    const int32_t g = h / (j.n_head / j.n_head_kv);
    const float * q = q_row(j, i, h);
    sc.s.resize((size_t) std::max(n, 1));
    float M = -INFINITY;
    for (int32_t r = 0; r < n; r++) {
        const char * k = j.k + (size_t) sc.live[(size_t) r] * j.k_nb1 + (size_t) g * j.k_nb2;
        float l[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        for (int32_t d = 0; d < j.D; d += 8)
            for (int t = 0; t < 8; t++) l[t] = std::fma(q[d + t], f16(k + 2 * (size_t) (d + t)), l[t]);
        const float dot = sum8_ref(l);
        sc.s[(size_t) r] = std::fma(dot, j.scale, sc.mv[(size_t) r]);
        M = std::max(M, sc.s[(size_t) r]);
    }
    float e[RD_ATTN_MAX_D] = {}, o[RD_ATTN_MAX_D] = {};
    float lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    const int32_t n8 = n / 8 * 8;
    for (int32_t r = 0; r < n8; r++) lane[r % 8] += exp_ref(sc.s[(size_t) r] - M);
    float S = sum8_ref(lane);
    for (int32_t r = n8; r < n; r++) S += exp_ref(sc.s[(size_t) r] - M);
    for (int32_t r = 0; r < n; r++) {
        const float p = exp_ref(sc.s[(size_t) r] - M);
        const char * v = j.v + (size_t) sc.live[(size_t) r] * j.v_nb1 + (size_t) g * j.v_nb2;
        float * acc = r % 2 ? o : e;
        for (int32_t d = 0; d < j.Dv; d++) acc[d] = std::fma(p, f16(v + 2 * (size_t) d), acc[d]);
    }
    const float inv = S == 0.0f ? 0.0f : 1.0f / S;
    float * y = out_row(j, i, h);
    for (int32_t d = 0; d < j.Dv; d++) y[d] = (e[d] + o[d]) * inv;
}

#ifdef RD_ATTN_X86

RD_AVX2 RD_INLINE float sum8(__m256 v) {
    __m128 a = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1)); // l + l4
    a = _mm_add_ps(a, _mm_movehl_ps(a, a));                                        // (a0 + a2), (a1 + a3)
    return _mm_cvtss_f32(_mm_add_ss(a, _mm_movehdup_ps(a)));
}

RD_AVX2 RD_INLINE __m256 load_f16(const char * p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *) p)); }

RD_AVX2 RD_INLINE __m256 exp8(__m256 x) {
    x = _mm256_max_ps(x, _mm256_set1_ps(-87.0f));
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(LOG2E)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(LN2_HI), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(LN2_LO), r);
    __m256 p = _mm256_set1_ps(C[6]);
    for (int i = 5; i >= 0; i--) p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(C[i]));
    const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

// Scores of NH heads (h0...) over the live cells of ranks r0 .. n - 1, two cells at a time: each
// K row converted once for the NH heads, 2 x NH accumulators whose chains overlap. Row t of sc.s
// is head h0 + t; M[t] takes the maximum of what it held and these scores.
template <int NH>
RD_AVX2 void scores_avx2(const rd_attn_job & j, int32_t i, int32_t h0, int32_t n, int32_t r0, rd_attn_scratch & sc, float * M) {
    const char * kg = j.k + (size_t) (h0 / (j.n_head / j.n_head_kv)) * j.k_nb2;
    const float * q[NH];
    for (int t = 0; t < NH; t++) q[t] = q_row(j, i, h0 + t);
    const int32_t nd = j.D / 8;
    float * s = sc.s.data();
    int32_t r = r0;
    for (; r + 2 <= n; r += 2) {
        const char * k0 = kg + (size_t) sc.live[(size_t) r] * j.k_nb1, * k1 = kg + (size_t) sc.live[(size_t) r + 1] * j.k_nb1;
        __m256 a0[NH], a1[NH];
        for (int t = 0; t < NH; t++) a0[t] = a1[t] = _mm256_setzero_ps();
        for (int32_t b = 0; b < nd; b++) {
            const __m256 x0 = load_f16(k0 + 16 * (size_t) b), x1 = load_f16(k1 + 16 * (size_t) b);
            for (int t = 0; t < NH; t++) {
                const __m256 qv = _mm256_loadu_ps(q[t] + 8 * b);
                a0[t] = _mm256_fmadd_ps(qv, x0, a0[t]);
                a1[t] = _mm256_fmadd_ps(qv, x1, a1[t]);
            }
        }
        for (int t = 0; t < NH; t++) {
            float * st = s + (size_t) t * n;
            st[r] = std::fma(sum8(a0[t]), j.scale, sc.mv[(size_t) r]);
            st[r + 1] = std::fma(sum8(a1[t]), j.scale, sc.mv[(size_t) r + 1]);
            M[t] = std::max(M[t], std::max(st[r], st[r + 1]));
        }
    }
    if (r < n) {
        const char * k = kg + (size_t) sc.live[(size_t) r] * j.k_nb1;
        __m256 a[NH];
        for (int t = 0; t < NH; t++) a[t] = _mm256_setzero_ps();
        for (int32_t b = 0; b < nd; b++) {
            const __m256 x = load_f16(k + 16 * (size_t) b);
            for (int t = 0; t < NH; t++) a[t] = _mm256_fmadd_ps(_mm256_loadu_ps(q[t] + 8 * b), x, a[t]);
        }
        for (int t = 0; t < NH; t++) {
            float * st = s + (size_t) t * n;
            st[r] = std::fma(sum8(a[t]), j.scale, sc.mv[(size_t) r]);
            M[t] = std::max(M[t], st[r]);
        }
    }
}

// out = (E + O) * inv for NH heads over NC chunks of 8 from column 8 * c0: each V row's chunk
// converted once for the heads, the even ranks' products into e, the odd ones' into o.
// p: NH rows of n (row stride n).
template <int NH, int NC>
RD_AVX2 void values_avx2(const char * vg, size_t v_nb1, const int32_t * live, const float * p, int32_t n, int32_t c0,
                         const float * inv, float * const * y) {
    __m256 e[NH][NC], o[NH][NC];
    for (int t = 0; t < NH; t++)
        for (int c = 0; c < NC; c++) e[t][c] = o[t][c] = _mm256_setzero_ps();
    int32_t r = 0;
    for (; r + 2 <= n; r += 2) {
        const char * v0 = vg + (size_t) live[r] * v_nb1 + 16 * (size_t) c0, * v1 = vg + (size_t) live[r + 1] * v_nb1 + 16 * (size_t) c0;
        __m256 x0[NC], x1[NC];
        for (int c = 0; c < NC; c++) x0[c] = load_f16(v0 + 16 * c), x1[c] = load_f16(v1 + 16 * c);
        for (int t = 0; t < NH; t++) {
            const __m256 p0 = _mm256_broadcast_ss(p + (size_t) t * n + r), p1 = _mm256_broadcast_ss(p + (size_t) t * n + r + 1);
            for (int c = 0; c < NC; c++) {
                e[t][c] = _mm256_fmadd_ps(p0, x0[c], e[t][c]);
                o[t][c] = _mm256_fmadd_ps(p1, x1[c], o[t][c]);
            }
        }
    }
    if (r < n) {
        const char * v0 = vg + (size_t) live[r] * v_nb1 + 16 * (size_t) c0;
        for (int c = 0; c < NC; c++) {
            const __m256 x = load_f16(v0 + 16 * c);
            for (int t = 0; t < NH; t++) e[t][c] = _mm256_fmadd_ps(_mm256_broadcast_ss(p + (size_t) t * n + r), x, e[t][c]);
        }
    }
    for (int t = 0; t < NH; t++) {
        const __m256 iv = _mm256_set1_ps(inv[t]);
        for (int c = 0; c < NC; c++) _mm256_storeu_ps(y[t] + 8 * (c0 + c), _mm256_mul_ps(_mm256_add_ps(e[t][c], o[t][c]), iv));
    }
}

// p = exp(s - M) in place for the NH rows of sc.s; S: 8 lanes, then the tail in order; inv = 1 / S.
template <int NH>
RD_AVX2 void exps_avx2(int32_t n, rd_attn_scratch & sc, const float * M, float * inv) {
    const int32_t n8 = n / 8 * 8;
    for (int t = 0; t < NH; t++) {
        float * p = sc.s.data() + (size_t) t * n;
        const __m256 mm = _mm256_set1_ps(M[t]);
        __m256 lanes = _mm256_setzero_ps();
        for (int32_t r = 0; r < n8; r += 8) {
            const __m256 x = exp8(_mm256_sub_ps(_mm256_loadu_ps(p + r), mm));
            _mm256_storeu_ps(p + r, x);
            lanes = _mm256_add_ps(lanes, x);
        }
        float S = sum8(lanes);
        for (int32_t r = n8; r < n; r++) S += p[r] = exp_ref(p[r] - M[t]);
        inv[t] = S == 0.0f ? 0.0f : 1.0f / S;
    }
}

// NH heads of one KV head for query i over its n live cells.
template <int NH>
RD_AVX2 void heads_avx2(const rd_attn_job & j, int32_t i, int32_t h0, int32_t n, rd_attn_scratch & sc) {
    sc.s.resize((size_t) NH * (size_t) std::max(n, 1));
    float M[NH], inv[NH];
    float * y[NH];
    for (int t = 0; t < NH; t++) M[t] = -INFINITY, y[t] = out_row(j, i, h0 + t);
    scores_avx2<NH>(j, i, h0, n, 0, sc, M);
    exps_avx2<NH>(n, sc, M, inv);
    const char * vg = j.v + (size_t) (h0 / (j.n_head / j.n_head_kv)) * j.v_nb2;
    constexpr int NC = NH == 1 ? 4 : NH <= 3 ? 2 : 1; // 2 x NH x NC accumulators of 16 registers
    const int32_t nc = j.Dv / 8;
    int32_t c = 0;
    for (; c + NC <= nc; c += NC) values_avx2<NH, NC>(vg, j.v_nb1, sc.live.data(), sc.s.data(), n, c, inv, y);
    for (; c < nc; c++) values_avx2<NH, 1>(vg, j.v_nb1, sc.live.data(), sc.s.data(), n, c, inv, y);
}

// ---- AVX-512: the same lane operations on twice the lanes ----

// Scores over ranks r0.. of n, 4 cells a step: cells r, r + 1 in the two 256-bit halves of one
// accumulator and r + 2, r + 3 in another, so each fma runs two cells' 8-lane chains; the 8-lane
// sums of the 4 cells, vectorised, add the same pairs in the same order as sum8. Returns the
// first rank not done (the AVX2 loop takes the last 0-3 cells).
template <int NH>
RD_AVX512 int32_t scores4_avx512(const rd_attn_job & j, const char * kg, const float * const * q, int32_t n,
                                 const rd_attn_scratch & sc, float * s, float * M) {
    const int32_t nd = j.D / 8;
    const int32_t * live = sc.live.data();
    const __m128 scale = _mm_set1_ps(j.scale);
    __m128 mx[NH];
    for (int t = 0; t < NH; t++) mx[t] = _mm_set1_ps(-INFINITY);
    const __m512i pick = _mm512_setr_epi32(0, 4, 8, 12, 0, 4, 8, 12, 0, 4, 8, 12, 0, 4, 8, 12);
    int32_t r = 0;
    for (; r + 4 <= n; r += 4) {
        const char * k0 = kg + (size_t) live[r] * j.k_nb1, * k1 = kg + (size_t) live[r + 1] * j.k_nb1;
        const char * k2 = kg + (size_t) live[r + 2] * j.k_nb1, * k3 = kg + (size_t) live[r + 3] * j.k_nb1;
        __m512 a[NH], b[NH];
        for (int t = 0; t < NH; t++) a[t] = b[t] = _mm512_setzero_ps();
        for (int32_t d = 0; d < nd; d++) {
            const size_t o = 16 * (size_t) d;
            const __m512 x01 = _mm512_cvtph_ps(_mm256_set_m128i(_mm_loadu_si128((const __m128i *) (k1 + o)),
                                                                _mm_loadu_si128((const __m128i *) (k0 + o))));
            const __m512 x23 = _mm512_cvtph_ps(_mm256_set_m128i(_mm_loadu_si128((const __m128i *) (k3 + o)),
                                                                _mm_loadu_si128((const __m128i *) (k2 + o))));
            for (int t = 0; t < NH; t++) {
                const __m512 qv = _mm512_castpd_ps(_mm512_broadcast_f64x4(_mm256_castps_pd(_mm256_loadu_ps(q[t] + 8 * d))));
                a[t] = _mm512_fmadd_ps(qv, x01, a[t]);
                b[t] = _mm512_fmadd_ps(qv, x23, b[t]);
            }
        }
        const __m128 mv = _mm_loadu_ps(sc.mv.data() + r);
        for (int t = 0; t < NH; t++) {
            // 128-bit lanes: cell r's l0-3, l4-7, cell r + 1's ...; u = (l0 + l4, l1 + l5, l2 + l6, l3 + l7) per cell
            const __m512 u = _mm512_add_ps(_mm512_shuffle_f32x4(a[t], b[t], _MM_SHUFFLE(2, 0, 2, 0)),
                                           _mm512_shuffle_f32x4(a[t], b[t], _MM_SHUFFLE(3, 1, 3, 1)));
            const __m512 v = _mm512_add_ps(u, _mm512_permute_ps(u, _MM_SHUFFLE(1, 0, 3, 2))); // u0 + u2, u1 + u3
            const __m512 w = _mm512_add_ps(v, _mm512_permute_ps(v, _MM_SHUFFLE(2, 3, 0, 1))); // (u0 + u2) + (u1 + u3)
            const __m128 dot = _mm512_castps512_ps128(_mm512_permutexvar_ps(pick, w));
            const __m128 sv = _mm_fmadd_ps(dot, scale, mv);
            _mm_storeu_ps(s + (size_t) t * n + r, sv);
            mx[t] = _mm_max_ps(sv, mx[t]); // mx where equal, as std::max(M, s)
        }
    }
    for (int t = 0; t < NH; t++) {
        alignas(16) float m4[4];
        _mm_store_ps(m4, mx[t]);
        M[t] = std::max(std::max(m4[0], m4[1]), std::max(m4[2], m4[3]));
    }
    return r;
}

// values_avx2's sums, 16 dims a register: NC registers of 16 from dim 16 * c0.
template <int NH, int NC>
RD_AVX512 void values_avx512(const char * vg, size_t v_nb1, const int32_t * live, const float * p, int32_t n, int32_t c0,
                             const float * inv, float * const * y) {
    __m512 e[NH][NC], o[NH][NC];
    for (int t = 0; t < NH; t++)
        for (int c = 0; c < NC; c++) e[t][c] = o[t][c] = _mm512_setzero_ps();
    int32_t r = 0;
    for (; r + 2 <= n; r += 2) {
        const char * v0 = vg + (size_t) live[r] * v_nb1 + 32 * (size_t) c0, * v1 = vg + (size_t) live[r + 1] * v_nb1 + 32 * (size_t) c0;
        __m512 x0[NC], x1[NC];
        for (int c = 0; c < NC; c++)
            x0[c] = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *) (v0 + 32 * c))),
            x1[c] = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *) (v1 + 32 * c)));
        for (int t = 0; t < NH; t++) {
            const __m512 p0 = _mm512_set1_ps(p[(size_t) t * n + r]), p1 = _mm512_set1_ps(p[(size_t) t * n + r + 1]);
            for (int c = 0; c < NC; c++) {
                e[t][c] = _mm512_fmadd_ps(p0, x0[c], e[t][c]);
                o[t][c] = _mm512_fmadd_ps(p1, x1[c], o[t][c]);
            }
        }
    }
    if (r < n) {
        const char * v0 = vg + (size_t) live[r] * v_nb1 + 32 * (size_t) c0;
        for (int c = 0; c < NC; c++) {
            const __m512 x = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *) (v0 + 32 * c)));
            for (int t = 0; t < NH; t++) e[t][c] = _mm512_fmadd_ps(_mm512_set1_ps(p[(size_t) t * n + r]), x, e[t][c]);
        }
    }
    for (int t = 0; t < NH; t++) {
        const __m512 iv = _mm512_set1_ps(inv[t]);
        for (int c = 0; c < NC; c++) _mm512_storeu_ps(y[t] + 16 * (c0 + c), _mm512_mul_ps(_mm512_add_ps(e[t][c], o[t][c]), iv));
    }
}

// heads_avx2 with the scores 4 cells and the values 16 dims a register.
template <int NH>
RD_AVX512 void heads_avx512(const rd_attn_job & j, int32_t i, int32_t h0, int32_t n, rd_attn_scratch & sc) {
    sc.s.resize((size_t) NH * (size_t) std::max(n, 1));
    const int32_t g = h0 / (j.n_head / j.n_head_kv);
    const char * kg = j.k + (size_t) g * j.k_nb2;
    const float * q[NH];
    float M[NH], inv[NH];
    float * y[NH];
    for (int t = 0; t < NH; t++) q[t] = q_row(j, i, h0 + t);
    const int32_t r4 = scores4_avx512<NH>(j, kg, q, n, sc, sc.s.data(), M); // sets M
    scores_avx2<NH>(j, i, h0, n, r4, sc, M);
    exps_avx2<NH>(n, sc, M, inv);
    for (int t = 0; t < NH; t++) y[t] = out_row(j, i, h0 + t);
    const char * vg = j.v + (size_t) g * j.v_nb2;
    constexpr int NC = NH == 1 ? 4 : 2; // 2 x NH x NC accumulators of 32 registers
    const int32_t nc = j.Dv / 16;
    int32_t c = 0;
    for (; c + NC <= nc; c += NC) values_avx512<NH, NC>(vg, j.v_nb1, sc.live.data(), sc.s.data(), n, c, inv, y);
    for (; c < nc; c++) values_avx512<NH, 1>(vg, j.v_nb1, sc.live.data(), sc.s.data(), n, c, inv, y);
    if (j.Dv % 16) values_avx2<NH, 1>(vg, j.v_nb1, sc.live.data(), sc.s.data(), n, j.Dv / 8 - 1, inv, y);
}

#endif

} // namespace

void rd_attn_units(const rd_attn_job & j, int32_t u0, int32_t u1, rd_attn_scratch & sc) {
    rd_attn_units_isa(j, u0, u1, sc, rd_hk_best_isa());
}

void rd_attn_units_isa(const rd_attn_job & j, int32_t u0, int32_t u1, rd_attn_scratch & sc, rd_hk_isa isa) {
#ifdef RD_ATTN_X86
    const bool avx512 = isa == rd_hk_isa::avx512_vnni, avx2 = avx512 || isa == rd_hk_isa::avx2 || isa == rd_hk_isa::avx2_vnni;
#else
    const bool avx2 = false;
    (void) isa;
#endif
    if (!avx2) return rd_attn_units_ref(j, u0, u1, sc);
#ifdef RD_ATTN_X86
    const int32_t rep = j.n_head / j.n_head_kv;
    int32_t query = -1, n = 0;
    for (int32_t u = u0; u < u1;) {
        const int32_t i = u / j.n_head, h = u % j.n_head;
        if (i != query) n = live_cells(j, query = i, sc);
        // the heads from h that share its KV head, within u1, at most RD_ATTN_HEADS
        const int32_t nh = std::min({RD_ATTN_HEADS, rep - h % rep, u1 - u, j.n_head - h});
        if (avx512) switch (nh) {
            case 1: heads_avx512<1>(j, i, h, n, sc); break;
            case 2: heads_avx512<2>(j, i, h, n, sc); break;
            case 3: heads_avx512<3>(j, i, h, n, sc); break;
            default: heads_avx512<4>(j, i, h, n, sc); break;
            }
        else switch (nh) {
            case 1: heads_avx2<1>(j, i, h, n, sc); break;
            case 2: heads_avx2<2>(j, i, h, n, sc); break;
            case 3: heads_avx2<3>(j, i, h, n, sc); break;
            default: heads_avx2<4>(j, i, h, n, sc); break;
            }
        u += nh;
    }
#endif
}

void rd_attn_units_ref(const rd_attn_job & j, int32_t u0, int32_t u1, rd_attn_scratch & sc) {
    int32_t query = -1, n = 0;
    for (int32_t u = u0; u < u1; u++) {
        const int32_t i = u / j.n_head;
        if (i != query) n = live_cells(j, query = i, sc);
        unit_ref(j, i, u % j.n_head, n, sc);
    }
}
