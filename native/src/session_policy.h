// session_policy.h - what a step verifies and what it learns: the drafter's beams at the length
// the adaptive policy (policy.h) expects to pay, the context copy (lookup.h), one chain for a
// batch-invariant session, each tree node's chance to be reached (for the head's waves), and
// the update of both policies after the step. None of it changes the output, only the tree.
#pragma once

#include "lookup.h"
#include "policy.h"

#include <vector>

struct rd_session;
struct rd_step_result;

// The drafter's beams. Shape legend: B = beam width, L = draft length.
struct session_draft {
    int32_t B = 0, L = 0;            // the session's shape (validated even without a drafter)
    bool    adaptive = true;         // choose the draft length per step (policy.h)
    rd_draft_policy policy;
    std::vector<int32_t> beams;      // B*L
    std::vector<float>   beam_logp;  // B
    std::vector<float>   step_logp;  // B*L: each beam's summed log-prob after each draft step
    float   q[RD_MAX_BEAM_LENGTH];   // the best beam's per-step draft probabilities
    const float * step_q = nullptr;  // q when it describes this step's first beam
    rd_spec_gate gate;               // whether a step speculates at all (adaptive sessions)
};

// The context-copy beam; its llama sequence is the session's last.
struct session_copy {
    int32_t max = 0;                 // the longest copy (rd_session_params.lookup), 0 = off
    rd_lookup_policy pol;
    int32_t tok[RD_MAX_BEAM_LENGTH]; // this step's copy beam
    int32_t n = 0, match = 0;        // its length and the match it came from
    int32_t accepted = 0;            // its tokens on the accepted path
};

// Draft this step's beams into s->draft.beams (packed at stride *L): *B x *L (*L = 0: none)
// after the policy's cut, *drafted = draft steps the drafter ran.
rd_status session_draft_beams(rd_session * s, int32_t max_tokens, int32_t * B, int32_t * L, int32_t * drafted);

// This step's copy beam into s->copy (n = 0: none), beside B x L drafted tokens.
void session_copy_propose(rd_session * s, int32_t max_tokens, int32_t B, int32_t L);

// The tree-node bit of this step's copy beam; 0 without one.
uint32_t session_copy_bit(const rd_session * s);

// A batch-invariant session's cut of drafter and copy beams to one chain (session_policy.cpp).
void session_one_chain(rd_session * s, int32_t & B, int32_t & L);

// s->node_p for the tree just built over B drafter beams and the copy beam.
void session_node_chances(rd_session * s, int32_t B);

// Feed a finished step (L draft steps verified of `drafted` run) to both policies.
void session_learn(rd_session * s, int32_t L, int32_t drafted, const rd_step_result & r);
