// head_kernel.h - the target's output layer on the CPU when it is Q8_0: logits of K hidden states
// in ONE pass over the weights, so a tree's visited nodes cost far less than K single columns.
//
// Shape legend: V = rows of W (the vocabulary), d = row length (hidden size, a multiple of 32),
// nb = d / 32 blocks per row, K = columns of one call (1..RD_HK_MAX_COLS), G = V / 16 row groups.
//
//   y[c * V + r] = sum over blocks b of  dw[r][b] * dx[c][b] * isum[r][b][c]
//   isum[r][b][c] = sum_{k < 32} qw[r][32 b + k] * qx[c][32 b + k]        (exact, int32)
//
// W is ggml's Q8_0 (per block: fp16 scale dw, 32 int8 qw), mapped from the GGUF and read in
// place. The activations are quantized per column the way ggml's x86 code quantizes them for its
// q8_0 dot (dx = fp16(amax / 127), qx = round-half-even(x * 127 / amax)), so the logits match
// llama.cpp's to float rounding.
//
// Batch invariance: every y[c][r] is the same sequence of float operations whatever K, the
// thread count or the instruction set: isum is exact (integer), dw * dx is exact in f32 (two
// fp16 significands need 22 bits), and the blocks are accumulated in order b = 0..nb-1 as
// acc = fma(dw * dx, (float) isum, acc) from acc = 0. Only how isum is computed differs per
// SIMD path, and integers do not round. So plain decoding (K = 1) and a tree's verification
// (K > 1) see bit-identical logits for the same hidden state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

class rd_pool;

constexpr int32_t RD_HK_MAX_COLS = 16;
constexpr int32_t RD_HK_GROUP = 16; // rows per group: the unit of the SIMD kernels and of the threads' split

// Instruction sets, best last per architecture. Every one gives the same bits as scalar.
enum class rd_hk_isa : int32_t { scalar, avx2, avx2_vnni, avx512_vnni, neon, neon_dot };

// A Q8_0 matrix prepared once (per model) and then read-only, so sessions and threads share it.
struct rd_hk_matrix {
    const uint8_t * q = nullptr;   // row 0 in ggml's Q8_0 layout (borrowed: the GGUF mapping)
    size_t  row_bytes = 0;         // nb * 34
    int32_t V = 0, d = 0, nb = 0;
    // The block scales of the G whole groups again, [G][nb][16] fp16, so a SIMD kernel reads a
    // group's 16 scales with one load instead of 16 scattered ones (1/17 of W's size).
    std::vector<uint16_t> scales;
};

// Prepare w for the Q8_0 matrix at data (V rows of d values). false when d is not a multiple of
// 32 or V < 1.
bool rd_hk_prepare(rd_hk_matrix & w, const void * data, int32_t V, int32_t d);

// Per-call buffers: the activations quantized (reused across calls, grown on demand).
struct rd_hk_scratch {
    std::vector<int8_t>  qx;  // [K][d]
    std::vector<float>   dx;  // [K][nb]
    std::vector<uint8_t> pat; // [K][nb][RD_HK_PAT]: the x86 kernels' activation patterns
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
