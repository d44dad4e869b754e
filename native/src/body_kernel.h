// body_kernel.h - the target's Q4_1, Q5_0, Q4_K and Q6_K weight matrices (the body of a model
// such as SmolLM2's, Gemma 3's or Qwen2.5's) times K activation columns in one pass over the
// weights. ggml's CPU backend multiplies such a matrix by one column at a time (no tiled kernel
// for these types on x86), so verifying a tree of K tokens costs nearly K plain steps there;
// here each weight block is unpacked once per row for up to RD_BK_TILE columns. body_backend.cpp
// runs it for llama.cpp as a ggml backend.
//
// Shape legend: V = rows of W, d = row length, nb = d / 32 blocks per row, K = columns.
//
// Arithmetic (Q4_1 block: fp16 scale dw, fp16 minimum mw, 32 unsigned 4-bit quants qw; value =
// dw * qw + mw). Activations per column and block of 32: amax = max |x|, dx = amax / 127 (f32),
// qx = nearbyint(x * (127 / amax)) (0 when amax is 0), sx = dx * (float) sum(qx); a block with
// NaN or infinity gets dx = sx = NaN. Then for each row r and column c, from a = m = 0,
//
//   for b = 0..nb-1 in order:  a = fma(dw[b] * dx[c][b], (float) isum[b], a)
//                              m = fma(mw[b], sx[c][b], m)
//   isum[b] = sum_{k < 32} qw[k] qx[k]   (exact, |isum| <= 60960)
//   y[c][r] = a + m
//
// Q5_0 (block: fp16 dw, 32 high bits qh, 16 bytes of low nibble pairs; value = dw * (q - 16) with
// q = nibble | bit << 4) is the same sum with qw = q and mw = -16 dw (exact in f32). Q4_K (super-
// blocks of 8 blocks of 32 with fp16 d, dmin and 6-bit sc, m per block; value = d sc q - dmin m)
// is the same sum with dw = d * sc and mw = -(dmin * m), both exact in f32. Q6_K (super-blocks
// of 16 blocks of 16 with int8 scales sc and fp16 d; value = d sc (q - 32), q of 6 bits) has a
// scale per half of a block of 32, so its step is, per half h (values 16h..16h+15) in order:
//   a = fma(d * sc_h * dx[c][b], (float) (isum_h - 32 * hsum[c][b][h]), a)   (and m stays 0)
// with isum_h the half's exact sum of q qx and hsum the sum of its qx.
//
// Batch invariance: y[c][r] is this sequence of float operations whatever K, the column tile
// or the instruction set (SIMD paths differ only in how they get the exact
// integer isum), so plain decoding (K = 1) and a tree's verification see the same bits.
#pragma once

#include "ggml.h"        // ggml_type
#include "head_kernel.h" // rd_hk_isa

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

constexpr int32_t RD_BK_QK = 32;          // values per block (the activations' and the kernel's)
constexpr size_t  RD_BK_BLOCK_BYTES = 20; // Q4_1: fp16 dw, fp16 mw, 16 bytes of nibble pairs
constexpr size_t  RD_BK_Q5_BYTES = 22;    // Q5_0: fp16 dw, 4 bytes of high bits, 16 bytes of nibble pairs
constexpr size_t  RD_BK_Q4K_BYTES = 144;  // Q4_K: a super-block of 256 values (8 blocks of 32)
constexpr size_t  RD_BK_Q6K_BYTES = 210;  // Q6_K: a super-block of 256 values (16 blocks of 16)
constexpr int32_t RD_BK_TILE = 4;         // columns per pass over a row group
constexpr int32_t RD_BK_ROWS = 4;         // rows per group of the SIMD kernels
constexpr size_t  RD_BK_PAT = 4 * 32;     // pattern bytes per column and block

enum class rd_bk_type : uint8_t { q4_1, q5_0, q4_k, q6_k };
// Bytes of a block of 32 values (Q4_K, Q6_K: of its super-block of 256) in the file.
size_t rd_bk_block_bytes(rd_bk_type type);
// Whether the kernel takes a matrix of ggml type t, and as which type (out, when given): Q4_1
// always; Q5_0, Q4_K and Q6_K only on packed copies (packed: the caller makes them) with AVX-512
// VNNI (isa: the instruction set the kernel runs). The one list of types model.cpp and the
// backend read.
bool rd_bk_takes(ggml_type t, bool packed, rd_hk_isa isa, rd_bk_type * out = nullptr);

// The activations of one call, quantized (reused across calls, grown on demand).
struct rd_bk_scratch {
    std::vector<int8_t>  qx;  // [K][d]
    std::vector<float>   dx;  // [K][nb]
    std::vector<float>   sx;  // [K][nb]
    std::vector<int32_t> hs;  // [K][nb][2]: the sums of qx over each half of a block (Q6_K)
    std::vector<uint8_t> pat; // [K][nb][4][32]: the x86 kernels' activation patterns (body_kernel_x86.cpp)
};

// Quantize K columns of d floats (column c at x + c * x_stride) into s: with AVX2 where the CPU
// has it (body_kernel_x86.cpp), else the reference; both write the same bytes.
void rd_bk_quantize(const float * x, size_t x_stride, int32_t K, int32_t d, rd_bk_scratch & s);
void rd_bk_quantize_ref(const float * x, size_t x_stride, int32_t K, int32_t d, rd_bk_scratch & s);
// The AVX2 quantizer into s already sized; false when not built for x86.
bool rd_bk_quantize_x86(const float * x, size_t x_stride, int32_t K, int32_t d, rd_bk_scratch & s);

// The SIMD kernels' copy of a matrix (rd_bk_pack), which they read without unpacking or
// transposing: the rows in groups of 16, a group's blocks in order, each block as 320 bytes:
//   4 parts of 64 bytes: part u, bytes 4i..4i+3 = row i's quant bytes 4u..4u+3 (quants 4u..4u+3
//     in the low nibbles, 16+4u..16+4u+3 in the high), so one AND or shift gives 16 rows' dword
//     of quants in 16 lanes;
//   the 16 rows' fp16 scales dw, then their fp16 minimums mw.
// A Q5_0 block is 352 bytes: the same 4 parts of the nibbles, then 8 masks of 64 bits (mask v,
// bit 4i + t = row i's high bit of quant 4v + t: the byte that holds that quant's nibble in the
// kernel's register v), then the 16 rows' fp16 scales dw. A Q4_K block (each 32 values of a
// super-block, with dw = d * sc and mw = -dmin * m) is 384: the 4 parts, then 16 f32 dw, 16 f32 mw.
// A Q6_K block is 512: the 4 parts of the quants' low 4 bits, the masks of their fifth bits and
// of their sixth (as Q5_0's), then the 16 rows' f32 d * sc of the first half, and of the second.
// Rows after the last whole group stay out (the kernel reads them in place). Q4_1's and Q5_0's
// copies are the size of W, Q4_K's 4/3 of it and Q6_K's 1.22.
constexpr int32_t RD_BK_PACK_ROWS  = 16;
constexpr size_t  RD_BK_PACK_BLOCK = 320;
constexpr size_t  RD_BK_PACK_Q5 = 352;
constexpr size_t  RD_BK_PACK_Q4K = 384;
constexpr size_t  RD_BK_PACK_Q6K = 512;
size_t rd_bk_pack_block_bytes(rd_bk_type type);

// Bytes of the packed copy of V rows of nb blocks.
size_t rd_bk_packed_bytes(int32_t V, int32_t nb, rd_bk_type type = rd_bk_type::q4_1);
// Write it to out (rd_bk_packed_bytes of them).
void rd_bk_pack(const uint8_t * W, size_t row_bytes, int32_t V, int32_t nb, uint8_t * out,
                rd_bk_type type = rd_bk_type::q4_1);

// One model's packed copies, made on a matrix's first product and kept as long as the model
// (rd_model::body_packs), shared by its sessions' threads.
class rd_bk_packs {
  public:
    // The copy of W (its rows' bytes are read once, here); null when there is none to make
    // (fewer than 16 rows) or no memory for it: the kernel then reads W in place.
    const uint8_t * get(const uint8_t * W, size_t row_bytes, int32_t V, int32_t nb, rd_bk_type type = rd_bk_type::q4_1);

  private:
    struct freer {
        void operator()(uint8_t * p) const;
    };
    std::mutex mu_;
    std::unordered_map<const uint8_t *, std::unique_ptr<uint8_t[], freer>> copies_;
};

// One multiplication: W (V rows of row_bytes, nb blocks each) by the K columns in s; column c of y
// at y + c * y_stride, rows r0..r1-1. P: W's packed copy (its whole groups of RD_BK_PACK_ROWS
// rows), or null. A Q5_0, Q4_K or Q6_K matrix has SIMD rows only on its packed copy with AVX-512 VNNI.
struct rd_bk_job {
    const uint8_t *       W;
    size_t                row_bytes;
    int32_t               V, nb, K;
    const rd_bk_scratch * s;
    float *               y;
    size_t                y_stride;
    const uint8_t *       P = nullptr;
    rd_bk_type            type = rd_bk_type::q4_1;
};

// Rows r0..r1-1 with isa (scalar is the reference; an isa this CPU lacks falls back to scalar),
// on the caller's thread (body_backend.cpp splits a product's rows across a pool).
void rd_bk_rows(const rd_bk_job & j, int32_t r0, int32_t r1, rd_hk_isa isa);

// The x86 SIMD rows (body_kernel_x86.cpp): false when isa has no path there.
bool rd_bk_rows_x86(const rd_bk_job & j, int32_t r0, int32_t r1, rd_hk_isa isa);
// A Q5_0, Q4_K or Q6_K job's packed groups from r0 with AVX-512 VNNI (body_kernel_x86.cpp): the first
// row not done.
int32_t rd_bk_rows_packed_x86(const rd_bk_job & j, int32_t r0, int32_t r1);

// Register the ggml backend that runs Q4_1 (and Q5_0) matrix products with this kernel (body_backend.cpp),
// once per process, before models are loaded. Skipped (false) when the CPU has no SIMD path
// (ggml's own kernels are faster than the scalar reference) or RD_BODY_KERNEL=0.
bool rd_body_backend_register();

// How long the pool of a context that uses the backend spins between products, in microseconds
// ($RD_BODY_SPIN_US, default 200): products come a few microseconds of ggml's one-thread work apart.
int32_t rd_body_spin_us();

// Matrix products the backend has computed in this process (for tests: that llama.cpp routes here).
uint64_t rd_body_products();

// The backend takes products only while a scope that turned it on is open on this thread: around
// the creation and every decode of a llama context whose ggml graph runs on ONE thread (ggml's
// scheduler asks the backend on the calling thread). pool, when given, splits each product's rows
// across its threads (a spinning pool: thread_pool.h), so a session of n threads runs ggml's
// other ops on one and the products on n. With ggml itself on more threads, ggml-cpu would hand
// over to this backend and back ~400 times per token, starting and joining its threads each
// time: on the 2-core machine that ran 6-10x slower than ggml alone, so such contexts (embeddings,
// distillation) keep ggml's kernels.
// attention: the backend takes the attention too (attn_kernel.h). Sessions of a body-kernel model
// (rd_model::body_kernel: mostly Q4_1, or Q5_0 / Q4_K / Q6_K with AVX-512 VNNI) say yes; other
// models' one-thread sessions say no (their Q4_1 products, if any, still come here).
// packs: the model's packed copies (null: read Q4_1 in place; Q5_0, Q4_K and Q6_K stay on ggml).
class rd_pool;
struct rd_body_scope {
    explicit rd_body_scope(bool on, rd_pool * pool = nullptr, bool attention = true, rd_bk_packs * packs = nullptr);
    ~rd_body_scope();
    rd_body_scope(const rd_body_scope &) = delete;
    rd_body_scope & operator=(const rd_body_scope &) = delete;

  private:
    bool          prev_, prev_attn_;
    rd_pool *     prev_pool_;
    rd_bk_packs * prev_packs_;
};
