// head_kernel_arm.cpp - the head kernel's AArch64 paths for Q8_0, Q6_K and F16: NEON with the
// dot-product extension (sdot, ARMv8.2; checked at run time) or plain NEON (smull + sadalp). One
// row at a time: each block's products of a column reduce to isum in registers, and the float
// steps are the scalar reference's (head_kernel.h), so the bits equal it. F16 needs no dot
// product: its 16 lane sums are 4 registers, both paths share it.
#include "head_kernel_impl.h"

#if defined(__aarch64__)

#include <arm_neon.h>

#include <array>
#include <cmath>
#include <cstring>
#include <utility>
#if defined(__linux__)
#include <sys/auxv.h>
#endif

namespace {

struct dot_neon {
    // 16 products in 4 int32 lanes (int16 lanes hold two products each until they widen)
    static inline int32x4_t part(int8x16_t w, const int8_t * x) {
        const int8x16_t xv = vld1q_s8(x);
        return vpaddlq_s16(vmlal_high_s8(vmull_s8(vget_low_s8(w), vget_low_s8(xv)), w, xv));
    }
    static inline int32_t sum(int8x16_t w0, int8x16_t w1, const int8_t * x) {
        const int8x16_t x0 = vld1q_s8(x), x1 = vld1q_s8(x + 16);
        // int16 lanes hold two products each (at most 2 * 128 * 127), then widen
        int32x4_t s = vpaddlq_s16(vmlal_high_s8(vmull_s8(vget_low_s8(w0), vget_low_s8(x0)), w0, x0));
        s = vpadalq_s16(s, vmlal_high_s8(vmull_s8(vget_low_s8(w1), vget_low_s8(x1)), w1, x1));
        return vaddvq_s32(s);
    }
};

// sdot v0.4s, v1.16b, v2.16b by its encoding, on pinned registers: the intrinsic would need the
// whole row loop (shared with the plain NEON path) compiled for +dotprod, and the mnemonic an
// assembler told about the extension for the rest of the file.
inline int32x4_t sdot(int32x4_t acc, int8x16_t a, int8x16_t b) {
    register int32x4_t v0 __asm__("v0") = acc;
    register int8x16_t v1 __asm__("v1") = a;
    register int8x16_t v2 __asm__("v2") = b;
    __asm__(".inst 0x4e829420" : "+w"(v0) : "w"(v1), "w"(v2));
    return v0;
}

struct dot_sdot {
    static inline int32x4_t part(int8x16_t w, const int8_t * x) { return sdot(vdupq_n_s32(0), w, vld1q_s8(x)); }
    static inline int32_t sum(int8x16_t w0, int8x16_t w1, const int8_t * x) {
        return vaddvq_s32(sdot(sdot(vdupq_n_s32(0), w0, vld1q_s8(x)), w1, vld1q_s8(x + 16)));
    }
};

template <int K, class Dot>
inline void rows_body(const rd_hk_job & j, int32_t r0, int32_t r1) {
    const rd_hk_matrix & w = *j.w;
    for (int32_t r = r0; r < r1; r++) {
        const uint8_t * row = w.q + (size_t) r * w.row_bytes;
        float acc[K];
        for (int c = 0; c < K; c++) acc[c] = 0.0f;
        for (int32_t b = 0; b < w.nb; b++) {
            const uint8_t * blk = row + (size_t) b * 34;
            __fp16 h;
            memcpy(&h, blk, 2);
            const float dw = (float) h;
            const int8x16_t w0 = vld1q_s8((const int8_t *) blk + 2), w1 = vld1q_s8((const int8_t *) blk + 18);
            for (int c = 0; c < K; c++) {
                const int32_t isum = Dot::sum(w0, w1, j.qx + (size_t) c * w.d + (size_t) b * 32);
                acc[c] = std::fma(dw * j.dx[(size_t) c * w.nb + b], (float) isum, acc[c]);
            }
        }
        for (int c = 0; c < K; c++) j.y[(size_t) c * w.V + r] = acc[c];
    }
}

// Q6_K: a super-block's quants unpacked once per row (head_kernel_q6k.cpp, unpack) as signed
// q - 32, one register per sub-block; per column isum = the lanes of sum_s sc[s] * part(s).
// Every partial fits int32: |part lane| <= 4 * 32 * 127, times |sc| <= 128, 16 sub-blocks.
template <int K, class Dot>
inline void rows_q6k_body(const rd_hk_job & j, int32_t r0, int32_t r1) {
    const rd_hk_matrix & w = *j.w;
    const uint8x16_t m4 = vdupq_n_u8(0x0F), m2 = vdupq_n_u8(0x30);
    for (int32_t r = r0; r < r1; r++) {
        const uint8_t * row = w.q + (size_t) r * w.row_bytes;
        float acc[K];
        for (int c = 0; c < K; c++) acc[c] = 0.0f;
        for (int32_t b = 0; b < w.nb; b++) {
            const uint8_t * blk = row + (size_t) b * RD_HK_Q6K_BYTES;
            __fp16 h;
            memcpy(&h, blk + RD_HK_Q6K_D, 2);
            const float dw = (float) h;
            int8x16_t q[16];
            for (int hf = 0; hf < 2; hf++)
                for (int c = 0; c < 2; c++) {
                    const uint8x16_t l0 = vld1q_u8(blk + 64 * hf + 16 * c), l1 = vld1q_u8(blk + 64 * hf + 32 + 16 * c);
                    const uint8x16_t hb = vld1q_u8(blk + RD_HK_Q6K_QH + 32 * hf + 16 * c);
                    const uint8x16_t u[4] = {
                        vorrq_u8(vandq_u8(l0, m4), vandq_u8(vshlq_n_u8(hb, 4), m2)),
                        vorrq_u8(vandq_u8(l1, m4), vandq_u8(vshlq_n_u8(hb, 2), m2)),
                        vorrq_u8(vshrq_n_u8(l0, 4), vandq_u8(hb, m2)),
                        vorrq_u8(vshrq_n_u8(l1, 4), vandq_u8(vshrq_n_u8(hb, 2), m2)),
                    };
                    for (int v = 0; v < 4; v++)
                        q[8 * hf + 2 * v + c] = vsubq_s8(vreinterpretq_s8_u8(u[v]), vdupq_n_s8(32));
                }
            const int8_t * sc = reinterpret_cast<const int8_t *>(blk + RD_HK_Q6K_SC);
            for (int c = 0; c < K; c++) {
                const int8_t * x = j.qx + (size_t) c * w.d + (size_t) b * 256;
                int32x4_t a = vdupq_n_s32(0);
                for (int s = 0; s < 16; s++) a = vmlaq_n_s32(a, Dot::part(q[s], x + 16 * s), sc[s]);
                acc[c] = std::fma(dw * j.dx[(size_t) c * w.nb + b], (float) vaddvq_s32(a), acc[c]);
            }
        }
        for (int c = 0; c < K; c++) j.y[(size_t) c * w.V + r] = acc[c];
    }
}

// Whole groups g0..g1-1 through a rows body (rows_body or rows_q6k_body for K columns and a Dot).
template <void (*Rows)(const rd_hk_job &, int32_t, int32_t)>
void groups(const rd_hk_job & j, int32_t g0, int32_t g1) {
    Rows(j, g0 * RD_HK_GROUP, g1 * RD_HK_GROUP);
}

// F16: columns c0..c0+CB-1 of row r, the 16 lane sums in a[c][q] (lanes 4q..4q+3), then
// head_kernel.h's tree.
template <int CB>
inline void f16_block(const rd_hk_job & j, int32_t r, int32_t c0) {
    const rd_hk_matrix & w = *j.w;
    const size_t d = (size_t) w.d;
    const float16_t * row = reinterpret_cast<const float16_t *>(w.q + (size_t) r * w.row_bytes);
    float32x4_t a[CB][4];
    for (int c = 0; c < CB; c++)
        for (int q = 0; q < 4; q++) a[c][q] = vdupq_n_f32(0.0f);
    for (size_t k = 0; k < d; k += 16) {
        float32x4_t wv[4];
        for (int q = 0; q < 4; q++) wv[q] = vcvt_f32_f16(vld1_f16(row + k + 4 * q));
        for (int c = 0; c < CB; c++) {
            const float * x = j.xh + (size_t) (c0 + c) * d + k;
            for (int q = 0; q < 4; q++) a[c][q] = vfmaq_f32(a[c][q], wv[q], vld1q_f32(x + 4 * q));
        }
    }
    for (int c = 0; c < CB; c++) {
        const float32x4_t s4 = vaddq_f32(vaddq_f32(a[c][0], a[c][2]), vaddq_f32(a[c][1], a[c][3]));
        j.y[(size_t) (c0 + c) * w.V + (size_t) r] = vpadds_f32(vadd_f32(vget_low_f32(s4), vget_high_f32(s4)));
    }
}

template <int K>
void groups_f16(const rd_hk_job & j, int32_t g0, int32_t g1) {
    for (int32_t r = g0 * RD_HK_GROUP; r < g1 * RD_HK_GROUP; r++) {
        for (int c0 = 0; c0 + 4 <= K; c0 += 4) f16_block<4>(j, r, c0);
        if constexpr (K % 4 > 0) f16_block<K % 4>(j, r, K - K % 4);
    }
}

using table = std::array<rd_hk_groups_fn, RD_HK_MAX_COLS>;
template <class Dot, int... I> table make_q8_0(std::integer_sequence<int, I...>) { return {{&groups<&rows_body<I + 1, Dot>>...}}; }
template <class Dot, int... I> table make_q6_k(std::integer_sequence<int, I...>) { return {{&groups<&rows_q6k_body<I + 1, Dot>>...}}; }
template <int... I> table make_f16(std::integer_sequence<int, I...>) { return {{&groups_f16<I + 1>...}}; }

} // namespace

bool rd_hk_arm_supported(rd_hk_isa isa) {
    if (isa == rd_hk_isa::neon) return true;
    if (isa != rd_hk_isa::neon_dot) return false;
#if defined(__APPLE__)
    return true; // every Apple arm64 CPU has the dot-product instructions
#elif defined(__linux__) && defined(HWCAP_ASIMDDP)
    return (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
#else
    return false;
#endif
}

rd_hk_groups_fn rd_hk_arm_kernel(ggml_type type, rd_hk_isa isa, int32_t K) {
    static const table tn = make_q8_0<dot_neon>(std::make_integer_sequence<int, RD_HK_MAX_COLS>());
    static const table td = make_q8_0<dot_sdot>(std::make_integer_sequence<int, RD_HK_MAX_COLS>());
    static const table tn6 = make_q6_k<dot_neon>(std::make_integer_sequence<int, RD_HK_MAX_COLS>());
    static const table td6 = make_q6_k<dot_sdot>(std::make_integer_sequence<int, RD_HK_MAX_COLS>());
    static const table tf = make_f16(std::make_integer_sequence<int, RD_HK_MAX_COLS>());
    if (K < 1 || K > RD_HK_MAX_COLS || !rd_hk_arm_supported(isa)) return nullptr;
    const bool dot = isa == rd_hk_isa::neon_dot;
    if (type == GGML_TYPE_Q8_0) return (dot ? td : tn)[(size_t) K - 1];
    if (type == GGML_TYPE_Q6_K) return (dot ? td6 : tn6)[(size_t) K - 1];
    if (type == GGML_TYPE_F16) return tf[(size_t) K - 1];
    return nullptr;
}

#else

bool rd_hk_arm_supported(rd_hk_isa) { return false; }
rd_hk_groups_fn rd_hk_arm_kernel(ggml_type, rd_hk_isa, int32_t) { return nullptr; }

#endif
