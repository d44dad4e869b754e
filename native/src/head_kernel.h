// head_kernel.h - the target's output layer on the CPU when it is Q8_0, Q6_K or F16: logits of K
// hidden states in ONE pass over the weights, so a tree's visited nodes cost far less than K
// single columns.
//
// Shape legend: V = rows of W (the vocabulary), d = row length (hidden size), nb = blocks per row,
// K = columns of one call (1..RD_HK_MAX_COLS), G = V / 16 row groups.
//
// W is read in place from the GGUF mapping. The activations are converted per column the way
// ggml's x86 code converts them for that type's dot product, so the logits match llama.cpp's to
// float rounding. Quantized types:
//
//   y[c * V + r] = sum over blocks b of  dw[r][b] * dx[c][b] * isum[r][b][c]        (b in order)
//
//   Q8_0 (blocks of 32: fp16 scale dw, 32 int8 qw) with Q8_0 activations: dx = fp16(amax / 127),
//     qx = round-half-even(x * 127 / amax);
//     isum = sum_{k < 32} qw[k] qx[k];
//   Q6_K (super-blocks of 256: fp16 dw, 16 int8 sub-block scales sc, 6-bit quants q in 0..63) with
//     Q8_K activations (quantize_row_q8_K_ref): dx = 1 / (-127 / m), qx = min(127, round-half-
//     even(x * (-127 / m))), m the value of largest magnitude;
//     isum = sum_{j < 16} sc[j] sum_{k < 16} (q[16 j + k] - 32) qx[16 j + k]   (|isum| < 2^27).
//
// F16 (d a multiple of 16) with F16 activations xh = fp16(x) (round half to even): 16 lane sums,
// lane l over k = l, l + 16, ... in order, a[l] = fma(w[k], xh[k], a[l]) from 0, then a fixed tree
//   s8[i] = a[i] + a[i + 8], s4[i] = s8[i] + s8[i + 4], y = (s4[0] + s4[2]) + (s4[1] + s4[3]).
//
// Batch invariance: every y[c][r] is the same sequence of float operations whatever K, the
// thread count or the instruction set. Quantized types: isum is exact (integer), and the blocks
// are accumulated in order b = 0..nb-1 as acc = fma(dw * dx, (float) isum, acc) from acc = 0
// (dw * dx is exact for Q8_0, two fp16 significands; for Q6_K it is one rounded product, the same
// one everywhere); only how isum is computed differs per SIMD path, and integers do not round.
// F16: a product of two fp16 values is exact in f32, so each step is one rounding whether a path
// fuses it or not, and the 16 lanes are what every SIMD width splits into (1 x 16, 2 x 8, 4 x 4).
// So plain decoding (K = 1) and a tree's verification (K > 1) see bit-identical logits for the
// same hidden state.
#pragma once

#include "ggml.h"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

class rd_pool;

// The fp16 value stored at p (any alignment), as a float: block scales in ggml's layouts.
inline float rd_fp16_at(const uint8_t * p) {
    ggml_fp16_t h;
    memcpy(&h, p, sizeof h);
    return ggml_fp16_to_fp32(h);
}

constexpr int32_t RD_HK_MAX_COLS = 16;
constexpr int32_t RD_HK_GROUP = 16; // rows per group: the unit of the SIMD kernels and of the threads' split

// Instruction sets, best last per architecture. Every one gives the same bits as scalar.
enum class rd_hk_isa : int32_t { scalar, avx2, avx2_vnni, avx512_vnni, neon, neon_dot };

// A matrix prepared once (per model) and then read-only, so sessions and threads share it.
struct rd_hk_matrix {
    ggml_type type = GGML_TYPE_Q8_0;
    const uint8_t * q = nullptr;   // row 0 in ggml's layout of type (borrowed: the GGUF mapping)
    size_t  row_bytes = 0;         // nb * the block's bytes (34 for Q8_0, 210 for Q6_K, 32 for F16)
    int32_t V = 0, d = 0, nb = 0;  // nb: d / 32, d / 256, d / 16
    // Q8_0: the block scales of the G whole groups again, [G][nb][16] fp16, so a SIMD kernel reads
    // a group's 16 scales with one load instead of 16 scattered ones (1/17 of W's size). Empty
    // for Q6_K, whose kernels gather one scale per 256 values.
    std::vector<uint16_t> scales;
};

// Whether the kernel takes matrices of type with isa: a SIMD kernel of isa for it (a type without
// one is better left to ggml's own SIMD code), or with isa scalar the reference.
bool rd_hk_type_supported(ggml_type type, rd_hk_isa isa);

// Prepare w for the matrix of type at data (V rows of d values). false when type is not Q8_0,
// Q6_K or F16, d is not a whole number of its blocks (32, 256, 16) or V < 1.
bool rd_hk_prepare(rd_hk_matrix & w, ggml_type type, const void * data, int32_t V, int32_t d);

// Per-call buffers: the activations quantized (reused across calls, grown on demand).
struct rd_hk_scratch {
    std::vector<int8_t>  qx;   // [K][d]
    std::vector<float>   dx;   // [K][nb]
    std::vector<uint8_t> pat;  // Q8_0: [K][nb][RD_HK_PAT], the x86 kernels' activation patterns
    std::vector<int32_t> corr; // Q6_K: [K][nb][16], -32 x each sub-block's sum of qx
    std::vector<float>   xh;   // F16: [K][d], the activations rounded to fp16
};

// The best instruction set of this CPU (runtime detection), whether this CPU can run isa, and
// its name ("avx512_vnni", ...).
rd_hk_isa   rd_hk_best_isa();
bool        rd_hk_isa_supported(rd_hk_isa isa);
const char * rd_hk_isa_name(rd_hk_isa isa);

// y (K rows of V floats) = logits of the K hidden states x (K rows of d floats). Rows are split
// over pool's threads (pool may be null: the caller's thread alone). isa must be supported.
void rd_hk_matmul(const rd_hk_matrix & w, const float * x, int32_t K, float * y, rd_hk_scratch & s,
                  rd_pool * pool, rd_hk_isa isa);
