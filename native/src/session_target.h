// session_target.h - the target model's side of a session: its llama.cpp context, the batch a
// step fills, the decode (cancellable), and the eval callback that stops a tree's decode at the
// final norm for the LM head on demand (session_head.h). Nothing here knows a request's tokens:
// with continuous batching (DESIGN.md section 7) one of these serves many sessions, each adding
// its rows to the batch under its own sequences before the one decode.
#pragma once

#include "internal.h"
#include "thread_pool.h"

#include <atomic>
#include <memory>

struct session_target {
    llama_context * ctx = nullptr;
    llama_batch     batch{};
    int32_t n_ctx = 0, n_batch = 0;
    int32_t n_seq = 1;         // llama sequences: one per beam, the copy beam's last (>= 1)
    bool    flash = false;
    bool    one_thread = false; // ggml decodes on one thread: the body backend takes Q4_1 products
                                // and the attention (body_backend.cpp)
    std::unique_ptr<rd_pool> body_pool; // the body kernel's threads when the session has 2+
    bool    body_attention = false; // the body backend takes the attention too (a Q4_1 model)
    rd_bk_packs * body_packs = nullptr; // that model's packed weights (null: read in place)
    bool    invariant = false; // the model is batch-invariant: flash attention on an f16 KV cache
                               // (bf16 V with 2+ threads), one chain per step (session_policy.h)
    rd_ggml_one_thread ggml_pool; // one_thread: ggml's own threadpool, kept (internal.h)
    std::atomic<bool> cancel{false};
    bool    stop_at_norm = false; // read by the eval callback during llama_decode
    bool    norm_seen = false;    // the callback met the final norm (session_head.cpp's check)

    session_target() = default;
    session_target(const session_target &) = delete; // llama.cpp's callbacks hold its address
    session_target & operator=(const session_target &) = delete;
    ~session_target();
};

// Create t's context for model m with p's flash_attn and kv_f32 (a batch-invariant model gets
// its own), n_ctx tokens, a batch of n_batch, n_seq sequences and n_threads threads; n_ctx and
// n_batch are then read back (llama.cpp may round the context up, never the batch).
rd_status session_target_init(session_target & t, rd_model * m, const rd_session_params & p, int32_t n_ctx,
                              int32_t n_batch, int32_t n_seq, int32_t n_threads);

// The bits of every sequence.
uint32_t session_target_all_seqs(const session_target & t);

// Append a row to the batch: token tok at position pos in the sequences whose bits seqs sets
// (the first one decides its attention mask); logits: an output row.
void session_target_add(session_target & t, int32_t tok, int32_t pos, uint32_t seqs, bool logits);

// Decode the batch. RD_ERR_CANCELLED when rd_session_cancel stopped it, RD_ERR_DECODE when
// llama.cpp failed: either way the caller's cache is in an unknown state.
rd_status session_target_decode(session_target & t);
