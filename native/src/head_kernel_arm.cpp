// head_kernel_arm.cpp - the Q8_0 head kernel's AArch64 paths: NEON with the dot-product
// extension (sdot, ARMv8.2; checked at run time) or plain NEON (smull + sadalp). One row at a time:
// each block's 32 products of a column reduce to isum in registers, and the float steps are the
// scalar reference's (head_kernel.h), so the bits equal it.
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

template <int K>
void groups_neon(const rd_hk_job & j, int32_t g0, int32_t g1) {
    rows_body<K, dot_neon>(j, g0 * RD_HK_GROUP, g1 * RD_HK_GROUP);
}

template <int K>
void groups_sdot(const rd_hk_job & j, int32_t g0, int32_t g1) {
    rows_body<K, dot_sdot>(j, g0 * RD_HK_GROUP, g1 * RD_HK_GROUP);
}

using table = std::array<rd_hk_groups_fn, RD_HK_MAX_COLS>;
template <int... I> table make_neon(std::integer_sequence<int, I...>) { return {{&groups_neon<I + 1>...}}; }
template <int... I> table make_sdot(std::integer_sequence<int, I...>) { return {{&groups_sdot<I + 1>...}}; }

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

rd_hk_groups_fn rd_hk_arm_kernel(rd_hk_isa isa, int32_t K) {
    static const table tn = make_neon(std::make_integer_sequence<int, RD_HK_MAX_COLS>());
    static const table td = make_sdot(std::make_integer_sequence<int, RD_HK_MAX_COLS>());
    if (K < 1 || K > RD_HK_MAX_COLS || !rd_hk_arm_supported(isa)) return nullptr;
    return isa == rd_hk_isa::neon_dot ? td[(size_t) K - 1] : tn[(size_t) K - 1];
}

#else

bool rd_hk_arm_supported(rd_hk_isa) { return false; }
rd_hk_groups_fn rd_hk_arm_kernel(rd_hk_isa, int32_t) { return nullptr; }

#endif
