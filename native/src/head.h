// head.h - the target's LM head run by the session itself, so a tree's verify decode can stop
// at llama.cpp's final norm ("result_norm") and pay the output layer only for the nodes the
// acceptance walk reaches. On a CPU that layer is a large share of a target call (Gemma 3:
// 262144 x 640 against ~100M weights in the 18 blocks), and the walk visits ~tau of the tree's
// N nodes. The logits are llama.cpp's, bit for bit: the same tensor (mapped from the GGUF), the
// same ggml op on the same CPU backend; rd_head_check proves it per model before any use.
#pragma once

#include "internal.h"

#include <cstdint>
#include <vector>

// Columns per head call at most: ggml's CPU matmul of Gemma's 262k-row Q8_0 head costs ~1.8x
// one column for 4 and ~2.7x for 5 (a kernel-width cliff), and bit-equality across column
// counts is part of the check (session.cpp, head_check).
constexpr int32_t RD_HEAD_MAX_COLS = 4;

struct rd_head {
    const gguf_matrix *  w = nullptr;      // rd_model::head_w
    ggml_backend_t       backend = nullptr; // our own CPU backend: its work buffer and threads
    ggml_context *       wctx = nullptr;   // the weight's tensor header (data: the mapping)
    ggml_tensor *        wt = nullptr;
    std::vector<uint8_t> arena;            // per-call ggml context: x, logits, graph
    int32_t              n_vocab = 0, n_embd = 0;

    rd_head() = default;
    rd_head(const rd_head &) = delete;
    rd_head & operator=(const rd_head &) = delete;
    ~rd_head();
};

// Prepare h for model m (m->head_w must be set) with n_threads CPU threads.
rd_status rd_head_init(rd_head & h, const rd_model * m, int32_t n_threads);

// Free h's backend and arena (a session whose model failed the check keeps none).
void rd_head_release(rd_head & h);

// Logits of k (1..RD_HEAD_MAX_COLS) hidden states x (k rows of n_embd floats): k rows of
// n_vocab floats, valid until the next call; nullptr when ggml fails.
const float * rd_head_run(rd_head & h, const float * x, int32_t k);

// How many nodes of a chain (a node, its first child, that one's, ...; len >= 1) one head call
// should cover: the k in 1..min(max_cols, len) with the least expected cost. cost[k] = time of a
// k-column call in single columns (cost[1] = 1); q[j] (j = 1..len-1) = P(the walk reaches chain
// node j | it reached node j-1). E_i = min over k of cost[k] + q[i+1]..q[i+k] E_{i+k}, E_len = 0.
int32_t rd_head_wave(const double * cost, int32_t max_cols, const double * q, int32_t len);
