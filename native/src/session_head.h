// session_head.h - a session's LM head on demand (head.h): the check a model passes once before
// any session runs its own head, and the waves of columns the acceptance walk asks for. When on,
// a tree's decode stops at llama.cpp's final norm and the walk runs the head for the nodes it
// reaches, a few columns per call (a wave).
#pragma once

#include "head.h"
#include "session_target.h"

#include <vector>

struct rd_session;

struct session_head {
    bool    on = false;            // rd_session_params.lazy_head, and the model passed the check
    rd_head head;
    bool    step_lazy = false;     // this step's tree was decoded without the head
    int32_t wave_node[RD_HEAD_MAX_COLS];
    int32_t wave_n = 0;
    const float * wave_logits = nullptr;
    int32_t n_cols = 0;            // head columns run this step
    int32_t n_calls = 0;           // in this many calls
    double  t_ms = 0;              // and their time
    std::vector<float> wave_x;     // RD_HEAD_MAX_COLS hidden states
};

// Turn h on when model m has a head of its own that passes the check (run on t's context by
// the model's first session, which sets m->head_ok, head_why, head_cols and head_cost).
void session_head_init(session_head & h, rd_model * m, session_target & t, int32_t n_threads);

// Start a step's decode: stopped at the norm when h is on (plain steps too: every logit of the
// session comes from the same head, for the Q8_0 kernel bit-identical at any call width).
void session_head_begin(session_head & h, session_target & t);

// Logits of tree node `node` after the verify decode: llama.cpp's, or the session's own head
// run for node and the next nodes of its likeliest chain that the walk is likely to reach.
// nullptr when ggml fails.
const float * rd_node_logits(rd_session * s, int32_t node);
