// head_kernel_impl.h - what head_kernel*.cpp (activations, dispatch, scalar references) share
// with the SIMD kernels of head_kernel_x86*.cpp and head_kernel_arm.cpp. See head_kernel.h for the
// arithmetic every kernel must reproduce.
#pragma once

#include "head_kernel.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>

// The Q8_0 x86 kernels put rows in SIMD lanes (a register transpose of each 4 rows' block: lane l
// of vector j holds row l's dword j, and in the upper 128-bit half dword 4 + j), so per column
// they need the activation block in the matching shape: for j = 0..3 a 32-byte pattern
// [qx dword j x4 | qx dword 4+j x4], then 8 int32 that start the sums (see RD_HK_CORR).
constexpr size_t RD_HK_PAT = 5 * 32;
// vpdpbusd multiplies unsigned by signed bytes, so the kernels feed W as qw + 128 (qw ^ 0x80)
// and start each half's sum at -128 * (sum of that half's qx): [lo x4 | hi x4], lo = bytes 0..15.
constexpr size_t RD_HK_CORR = 4 * 32;

constexpr int32_t RD_HK_Q6K_BYTES = 210; // ql[128] (low 4 bits), qh[64] (high 2 bits), sc[16], fp16 d
constexpr int32_t RD_HK_Q6K_QH = 128, RD_HK_Q6K_SC = 192, RD_HK_Q6K_D = 208;

struct rd_hk_job {
    const rd_hk_matrix * w;
    int32_t         K;
    const int8_t *  qx;   // [K][d]
    const float *   dx;   // [K][nb]
    const uint8_t * pat;  // Q8_0: [K][nb][RD_HK_PAT] (x86 kernels only)
    const int32_t * corr; // Q6_K: [K][nb][16]
    const float *   xh;   // F16: [K][d]
    float *         y;    // [K][V]
};

// Rows r0..r1-1, any r: the references every SIMD kernel must equal bit for bit.
void rd_hk_rows_q8_0(const rd_hk_job & j, int32_t r0, int32_t r1);
void rd_hk_rows_q6_k(const rd_hk_job & j, int32_t r0, int32_t r1);
void rd_hk_rows_f16(const rd_hk_job & j, int32_t r0, int32_t r1);

// The loop of the integer references: per row, per block b in order, per column c,
// acc[c] = fma(dw * dx[c][b], isum[c], acc[c]). block(blk, b, isum) fills isum[0..K) with block b's
// integer dot products and returns its weight scale dw.
template <class Block>
inline void rd_hk_rows_int(const rd_hk_job & j, int32_t r0, int32_t r1, size_t block_bytes, Block && block) {
    const rd_hk_matrix & w = *j.w;
    float acc[RD_HK_MAX_COLS];
    int32_t isum[RD_HK_MAX_COLS];
    for (int32_t r = r0; r < r1; r++) {
        const uint8_t * row = w.q + (size_t) r * w.row_bytes;
        std::fill(acc, acc + j.K, 0.0f);
        for (int32_t b = 0; b < w.nb; b++) {
            const float dw = block(row + (size_t) b * block_bytes, b, isum);
            for (int32_t c = 0; c < j.K; c++) acc[c] = std::fma(dw * j.dx[(size_t) c * w.nb + b], (float) isum[c], acc[c]);
        }
        for (int32_t c = 0; c < j.K; c++) j.y[(size_t) c * w.V + r] = acc[c];
    }
}

// Q8_K activations of one column (d values, d a multiple of 256): qx, dx, corr as in rd_hk_job.
void rd_hk_quantize_q8_k(const float * x, int32_t d, int8_t * qx, float * dx, int32_t * corr);

// Whole groups g0..g1-1 (rows 16 g0 .. 16 g1 - 1).
using rd_hk_groups_fn = void (*)(const rd_hk_job & j, int32_t g0, int32_t g1);

// The kernel of isa for K columns of type, or null when this build or CPU has none.
rd_hk_groups_fn rd_hk_x86_kernel(ggml_type type, rd_hk_isa isa, int32_t K);
rd_hk_groups_fn rd_hk_x86_q6_k(rd_hk_isa isa, int32_t K); // head_kernel_x86_q6k.cpp, x86 builds only
rd_hk_groups_fn rd_hk_x86_f16(rd_hk_isa isa, int32_t K);  // head_kernel_x86_f16.cpp, x86 builds only
rd_hk_groups_fn rd_hk_arm_kernel(ggml_type type, rd_hk_isa isa, int32_t K);
bool rd_hk_x86_supported(rd_hk_isa isa);
bool rd_hk_arm_supported(rd_hk_isa isa);
