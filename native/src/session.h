// session.h - the session: one request's decoding state over the parts that serve its steps,
// each in its own file: session_target.h (the llama.cpp context, its batch and decode),
// session_policy.h (the drafter's beams under the adaptive policy, the context copy),
// session_head.h (the LM head on demand), tree.h, accept.cpp (the acceptance walk) and kv.cpp
// (KV compaction). session.cpp runs the step: draft -> tree -> one decode -> accept -> KV.
// Continuous batching (DESIGN.md section 7) would share one session_target between sessions,
// each with its own range of sequences and batch rows; everything else here stays per request.
#pragma once

#include "internal.h"
#include "sampler.h"
#include "session_head.h"
#include "session_policy.h"
#include "session_target.h"
#include "tree.h"

#include <vector>

enum class rd_state { empty, prefilled, running, done };

struct rd_session {
    rd_model *     m = nullptr;
    rd_drafter *   d = nullptr;
    session_target target;
    session_draft  draft;
    session_copy   copy;
    session_head   lazy;
    rd_tree        tree;
    double         node_p[RD_MAX_TREE]; // P(the walk reaches node | it reached the parent)

    rd_state  state = rd_state::empty;
    rd_finish finish = RD_FINISH_NONE;
    int32_t   n_past = 0;           // tokens in the KV cache
    int32_t   g = -1;               // last sampled token, not yet in the cache
    std::vector<float> h;           // d: hidden state that produced g
    std::vector<int32_t> hist;      // prompt + every emitted token (g last)
    rd_sampler smp;
    bool      ignore_eos = false;
};

// Forget the previous request: state empty, no finish, an empty KV cache, cancel cleared. The
// first thing every entry point that starts over from a prompt does (prefill, prompt scoring).
void session_reset(rd_session * s);

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
