// attn_kernel.h - attention of a decode's queries over an f16 KV cache (ggml's FLASH_ATTN_EXT
// as llama.cpp builds it), for the sessions whose body products run on body_kernel.h: there
// ggml runs one thread, and its attention, which grows with the context, was the largest serial
// cost of a step (SmolLM2, 400 cells: ~3.3 ms of a 14.7 ms token, +3.2 ms per tree node).
// body_backend.cpp runs it on the session's pool, one unit (query, head) per thread at a time.
//
// Arithmetic of one unit (query i, head h, its KV head g = h / (n_head / n_head_kv)) over the
// query's live cells (mask not -inf), in cell order, rank r = 0, 1, ... among them:
//   s[r] = fma(dot(q, k[c]), scale, mask[c])   (dot: 8 f32 lanes by fma over the row, then
//                                               ((l0+l4) + (l2+l6)) + ((l1+l5) + (l3+l7)))
//   M = max s;  p[r] = exp(s[r] - M)           (exp: this file's own, the same in every path)
//   S = sum p in rank order;  out = (E + O) * (1 / S), 0 when no cell is live, where E sums
//   p[r] v[c] by fma over the even ranks in order and O over the odd ones.
// A unit reads only its own query and mask row, so its bits are the same whatever the number of
// queries in the call or the thread that runs it: plain decoding and a tree's verification
// agree (batch invariance), as the body kernel's products do.
#pragma once

#include "head_kernel.h" // rd_hk_isa

#include <cstddef>
#include <cstdint>
#include <vector>

struct rd_attn_job {
    const char * q;    size_t q_nb1, q_nb2;     // f32 [D][n_q][n_head]: query, head strides
    const char * k;    size_t k_nb1, k_nb2;     // f16 [D][n_kv][n_head_kv]
    const char * v;    size_t v_nb1, v_nb2;     // f16 [Dv][n_kv][n_head_kv]
    const char * mask; size_t m_nb1;            // f16 [n_kv][>= n_q], one row for every head; null: none
    char *       dst;  size_t d_nb1, d_nb2;     // f32 [Dv][n_head][n_q]
    int32_t      D, Dv, n_q, n_head, n_head_kv, n_kv;
    float        scale;
};

// Whether the kernel takes these dimensions (D and Dv multiples of 8 up to RD_ATTN_MAX_D).
constexpr int32_t RD_ATTN_MAX_D = 256;
bool rd_attn_dims_ok(int32_t D, int32_t Dv);

// Heads of one KV head run together (each K and V row converted once for all), up to this many.
constexpr int32_t RD_ATTN_HEADS = 4;

// One thread's buffers, grown on demand: the live cells of a query, their mask values, and the
// scores of the heads that run together.
struct rd_attn_scratch {
    std::vector<int32_t> live;
    std::vector<float>   mv, s;
};

// Units u0..u1-1 (unit u = query u / n_head, head u % n_head) on the caller's thread. AVX-512 or
// AVX2 where the CPU has it, else the portable loop; all write the same bits, and
// rd_attn_units_ref always runs the portable one (for tests).
void rd_attn_units(const rd_attn_job & j, int32_t u0, int32_t u1, rd_attn_scratch & scratch);
// The same on a chosen path (the CPU must have it): avx512_vnni, avx2 (or avx2_vnni), else the
// portable loop; rd_attn_units passes rd_hk_best_isa(). For tests and benchmarks.
void rd_attn_units_isa(const rd_attn_job & j, int32_t u0, int32_t u1, rd_attn_scratch & scratch, rd_hk_isa isa);
void rd_attn_units_ref(const rd_attn_job & j, int32_t u0, int32_t u1, rd_attn_scratch & scratch);
