// session.h - the session struct shared by session.cpp (lifecycle, prefill, step),
// accept.cpp (the acceptance walk, with the on-demand LM head) and kv.cpp (KV compaction).
#pragma once

#include "head.h"
#include "internal.h"
#include "lookup.h"
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
    bool    invariant = false; // the model is batch-invariant: flash attention on an f16 KV cache
                               // (bf16 V with 2+ threads), one chain per step (one_chain)
    bool    adaptive = true;  // choose the draft length per step (policy.h)
    rd_draft_policy policy;
    int32_t lookup = 0;     // the longest context-copy beam (lookup.h), 0 = off; its llama
                            // sequence is the last one, n_seq - 1
    rd_lookup_policy look_pol;
    std::vector<int32_t> hist;              // prompt + every emitted token (g last)
    int32_t copy[RD_MAX_BEAM_LENGTH];       // this step's copy beam
    int32_t n_copy = 0, copy_match = 0;     // its length and the match it came from
    int32_t copy_accepted = 0;              // its tokens on the accepted path

    rd_state state = rd_state::empty;
    rd_finish finish = RD_FINISH_NONE;
    int32_t n_past = 0;       // tokens in the KV cache
    int32_t g = -1;           // last sampled token, not yet in the cache
    std::vector<float> h;     // d: hidden state that produced g
    rd_sampler smp;
    bool ignore_eos = false;
    std::atomic<bool> cancel{false};

    // On-demand LM head (head.h): when on, a tree's decode stops at llama.cpp's final norm and
    // the walk runs the head for the nodes it reaches, a few columns per call (a wave).
    bool    lazy_head = false;
    bool    stop_at_norm = false;  // read by the eval callback during llama_decode
    bool    norm_seen = false;     // the callback met the final norm (head_check's test)
    rd_head head;
    bool    step_lazy = false;     // this step's tree was decoded without the head
    int32_t wave_node[RD_HEAD_MAX_COLS];
    int32_t wave_n = 0;
    const float * wave_logits = nullptr;
    int32_t n_head = 0;            // head columns run this step
    int32_t n_head_calls = 0;      // in this many calls
    double  t_head_ms = 0;         // and their time
    std::vector<float> wave_x;     // RD_HEAD_MAX_COLS hidden states

    rd_tree tree;
    double  node_p[RD_MAX_TREE];  // P(the walk reaches node | it reached the parent): the head's waves
    std::vector<int32_t> beams;  // B*L
    std::vector<float>   beam_logp;
    std::vector<float>   step_logp;  // B*L: each beam's summed log-prob after each draft step
    float                q[RD_MAX_BEAM_LENGTH]; // the best beam's per-step draft probabilities
    const float *        step_q = nullptr;      // q when it describes this step's first beam

    ~rd_session();
};

// Logits of tree node `node` after the verify decode: llama.cpp's, or the session's own head
// run for node and the next nodes of its first-child chain that the walk is likely to reach.
// nullptr when ggml fails.
const float * rd_node_logits(rd_session * s, int32_t node);

// Walk the verified tree from the root drawing the target's token at each node with the
// request's sampler (lossless: one draw per emitted token, in plain-decoding order).
// Emits up to max_tokens tokens into out/logprobs; returns the index of the last node on the
// accepted path (-1 when the head failed) and sets *n_out and *finish: RD_FINISH_EOS after an
// end-of-generation token, RD_FINISH_NO_TOKEN when the sampler allows none at the last node.
int32_t rd_accept_walk(rd_session * s, int32_t max_tokens, int32_t * out, float * logprobs,
                       int32_t * n_out, rd_finish * finish);

// Keep the KV cells of the accepted path root..last (positions n_past..n_past+depth), drop
// every other tree cell, and share the path with all beam sequences again.
void rd_kv_compact(rd_session * s, int32_t last);
