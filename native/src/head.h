// head.h - the target's LM head run by the session itself, so a tree's verify decode can stop
// at llama.cpp's final norm ("result_norm") and pay the output layer only for the nodes the
// acceptance walk reaches. On a CPU that layer is a large share of a target call (Gemma 3:
// 262144 x 640 against ~100M weights in the 18 blocks), and the walk visits ~tau of the tree's
// N nodes. The session then takes every logit from here, plain steps included.
//
// A Q8_0, Q6_K or F16 layer runs on our own kernel (head_kernel.h) where it has SIMD code for
// this CPU: one pass over the weights for all the columns of a call, and bit-identical logits
// whatever the column count, so a plain step and a tree's node see the same bits; they equal
// llama.cpp's to float rounding. Other types run llama.cpp's own ggml op on the same tensor
// (mapped from the GGUF) on a CPU backend: llama.cpp's bits, but ggml's matmul changes kernels
// with the column count (F32: 2+ columns differ; 2..7 columns of Gemma's head cost up to 3x
// one). The session checks either per model before any use (session_head.cpp, head_check).
#pragma once

#include "head_kernel.h"
#include "internal.h"
#include "thread_pool.h"

#include <cstdint>
#include <memory>
#include <vector>

// Columns per head call at most (a wave: session_head.cpp).
constexpr int32_t RD_HEAD_MAX_COLS = RD_MAX_HEAD_COLS;
static_assert(RD_HEAD_MAX_COLS <= RD_HK_MAX_COLS, "the kernel takes every wave");

struct rd_head {
    const gguf_matrix *  w = nullptr;      // rd_model::head_w
    int32_t              n_vocab = 0, n_embd = 0;
    // our kernel (Q8_0, Q6_K, F16): the model's prepared matrix, the threads, buffers
    const rd_hk_matrix * q8 = nullptr;     // rd_model::head_q8 (of any of them); null: ggml's op
    rd_hk_isa            isa = rd_hk_isa::scalar;
    rd_pool *            pool = nullptr;   // own_pool, or the session's body pool (session_target.h)
    std::unique_ptr<rd_pool> own_pool;
    rd_hk_scratch        scratch;
    std::vector<float>   out;              // [k][V] of the latest call
    // ggml's op (other types)
    ggml_backend_t       backend = nullptr; // our own CPU backend: its work buffer and threads
    ggml_context *       wctx = nullptr;   // the weight's tensor header (data: the mapping)
    ggml_tensor *        wt = nullptr;
    std::vector<uint8_t> arena;            // per-call ggml context: x, logits, graph

    rd_head() = default;
    rd_head(const rd_head &) = delete;
    rd_head & operator=(const rd_head &) = delete;
    ~rd_head();
};

// Prepare h for model m (m->head_w must be set) with n_threads CPU threads, or the threads of
// shared when given (the kernel's; must outlive h); the first session of a model whose output
// layer the kernel takes prepares it (m->head_q8).
rd_status rd_head_init(rd_head & h, rd_model * m, int32_t n_threads, rd_pool * shared = nullptr);

// Free h's threads, backend and buffers (a session whose model failed the check keeps none).
void rd_head_release(rd_head & h);

// Logits of k (1..RD_HEAD_MAX_COLS) hidden states x (k rows of n_embd floats): k rows of
// n_vocab floats, valid until the next call; nullptr when ggml fails.
const float * rd_head_run(rd_head & h, const float * x, int32_t k);

// How many nodes of a chain (a node, its first child, that one's, ...; len >= 1) one head call
// should cover: the k in 1..min(max_cols, len) with the least expected cost. cost[k] = time of a
// k-column call in single columns (cost[1] = 1); q[j] (j = 1..len-1) = P(the walk reaches chain
// node j | it reached node j-1). E_i = min over k of cost[k] + q[i+1]..q[i+k] E_{i+k}, E_len = 0.
int32_t rd_head_wave(const double * cost, int32_t max_cols, const double * q, int32_t len);
