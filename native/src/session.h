// session.h - the session struct shared by session.cpp (lifecycle, prefill, step),
// accept.cpp (the acceptance walk) and kv.cpp (KV compaction).
#pragma once

#include "internal.h"
#include "policy.h"
#include "sampler.h"
#include "tree.h"

#include <atomic>
#include <vector>

enum class rd_state { empty, prefilled, running, done };

struct rd_session {
    rd_model *      m = nullptr;
    rd_drafter *    d = nullptr;
    llama_context * ctx = nullptr;
    llama_batch     batch{};
    int32_t n_ctx = 0, n_batch = 0;
    int32_t B = 0, L = 0;   // beam width/length (validated even without a drafter)
    int32_t n_seq = 1;      // llama sequences: one per beam (>= 1)
    bool    flash = false;
    bool    adaptive = true;  // choose the draft length per step (policy.h)
    rd_draft_policy policy;

    rd_state state = rd_state::empty;
    rd_finish finish = RD_FINISH_NONE;
    int32_t n_past = 0;       // tokens in the KV cache
    int32_t g = -1;           // last sampled token, not yet in the cache
    std::vector<float> h;     // d: hidden state that produced g
    rd_sampler smp;
    bool ignore_eos = false;
    std::atomic<bool> cancel{false};

    rd_tree tree;
    std::vector<int32_t> beams;  // B*L
    std::vector<float>   beam_logp;

    ~rd_session();
};

// Walk the verified tree from the root drawing the target's token at each node with the
// request's sampler (lossless: one draw per emitted token, in plain-decoding order).
// Emits up to max_tokens tokens into out/logprobs; returns the index of the last node on the
// accepted path and sets *n_out and *eos.
int32_t rd_accept_walk(rd_session * s, int32_t max_tokens, int32_t * out, float * logprobs,
                       int32_t * n_out, bool * eos);

// Keep the KV cells of the accepted path root..last (positions n_past..n_past+depth), drop
// every other tree cell, and share the path with all beam sequences again.
void rd_kv_compact(rd_session * s, int32_t last);
