// policy.h - how many draft steps a decoding step should verify. The verify cost grows with
// the tree, so drafting only pays while enough of the drafts are accepted. The policy learns
// online, per session: the chance that draft depth k is accepted once depth k-1 was, the cost
// of a plain step, the extra decode time per tree node, what the LM head adds per emitted token
// when the session runs it on demand (head.h: then a step pays the head per token it emits, not
// per node, and several of them share one call), and the drafter's time per step; each step takes the length with the most expected
// tokens per millisecond (0 = plain decoding). The output never depends on it: only the tree does.
//
// With the drafted beam at hand, the acceptance of each depth is read from a calibration table
// instead of the average: P(depth k accepted | depth k-1 accepted) per bin of the drafter's own
// probability of its depth-k token, learnt from the verified steps. A confident draft is then
// verified in full and an unsure one cut short or not verified at all (plain step), where the
// average rate alone would treat every step alike.
#pragma once

#include "redrafter.h"

#include <cstdint>

constexpr int32_t RD_POLICY_BINS = 8; // draft-probability bins of the calibration, [b/8, (b+1)/8)

struct rd_draft_policy {
    double  p[RD_MAX_BEAM_LENGTH + 1]; // p[k]: P(depth k accepted | depth k-1 accepted)
    double  cal[RD_MAX_BEAM_LENGTH + 1][RD_POLICY_BINS]; // the same, per bin of the draft's
                                       // own probability of its depth-k token
    double  root_ms = 0;               // a plain step: decode of the root and its head
    double  head1_ms = 0;              // of root_ms: the head on demand, one column (0: llama.cpp's)
    double  head_more_ms = 0;          // each further column of one head call (0: not measured)
    double  node_ms = 0;               // extra decode time per draft node (with its head when
                                       // llama.cpp runs it, without when on demand)
    double  col_ms = 0;                // on-demand head time per emitted token beyond the first
                                       // (the extra columns of a call, or another call; 0:
                                       // llama.cpp's head)
    double  draft_ms = 0;              // drafter time per draft step
    double  nodes = 0;                 // tree nodes per draft step (B minus shared prefixes; 0: not yet seen)
    bool    have_root = false, have_node = false;
    int32_t plain_run = 0;             // consecutive steps the policy chose plain decoding
};

// What a finished step measured.
struct rd_step_cost {
    int32_t L_used = 0;      // draft steps verified (0 = plain)
    int32_t accepted = 0;
    int32_t n_tree = 1;
    int32_t n_copy_nodes = 0; // of n_tree: nodes only the context copy (lookup.h) put there
    int32_t n_head = 1;      // head columns run
    int32_t n_head_calls = 0; // in how many calls of the head on demand (0: llama.cpp's head)
    int32_t n_tokens = 1;    // tokens the step emitted
    double  t_decode_ms = 0; // the tree's llama_decode
    double  t_head_ms = 0;   // the head on demand (0 when llama.cpp ran it inside the decode)
    double  t_draft_ms = 0;
    int32_t n_drafted = 0;   // draft steps t_draft_ms paid for (0: L_used); more than L_used
                             // when the policy cut the drafted beam
    const float * q = nullptr; // q[k-1]: the drafter's probability of the best beam's depth-k
                               // token given depth k-1 (k = 1..L_used); nullptr: not known
};

void rd_policy_init(rd_draft_policy & pol);

// Draft length for the next step, 0..L_max (L_max >= 1): the first steps measure the costs
// (a plain step, then a full one), then rd_policy_best, with a full-length probe after every
// 16 plain choices (acceptance is only learnt while drafting).
// q (optional, L_max entries as in rd_step_cost): the best beam's draft probabilities of the
// steps drafted so far, NaN for the rest.
int32_t rd_policy_choose(rd_draft_policy & pol, int32_t L_max, const float * q = nullptr);

// The length with the most expected tokens per ms, no bookkeeping: depths with a known q use
// the calibration and cost no drafting (done already), the others the average and the
// drafter's time per step.
int32_t rd_policy_best(const rd_draft_policy & pol, int32_t L_max, const float * q);

// P(depth k accepted | depth k-1 accepted): the calibration's when q[k-1] is known, else the
// average.
double rd_policy_accept(const rd_draft_policy & pol, int32_t k, const float * q);

// Learn from a finished step.
void rd_policy_update(rd_draft_policy & pol, const rd_step_cost & c);

// The head's wave costs (head.h, rd_head_wave) as this session measured them: cost[k] for
// k = 1..max_cols, a k-column call in one-column calls, head1_ms + (k - 1) head_more_ms (a
// kernel whose cost grows by a fixed amount per column). false until both are measured.
bool rd_policy_head_cost(const rd_draft_policy & pol, int32_t max_cols, double * cost);

// Whether a step speculates at all (drafter and context copy), or decodes plainly: the policy
// above prices a tree from the drafter's own probabilities, but the drafter has run by then, and
// its time, a busy machine or a miscalibrated bin can make every speculative step slower than a
// plain one (dev_eval's chat answers on SmolLM2 with the packed body kernel: 0.91x). So a
// two-armed bandit on what both arms measured, tokens per millisecond of a whole step (drafting,
// decode, LM head, bookkeeping), each a running mean: the better arm runs, and the other one
// every few steps so its mean follows the text (plain every 32 x speculation's lead steps, at
// most 256, while speculation wins; speculation every 8 while it loses). It measures a
// speculative step first, then a plain one.
struct rd_spec_gate {
    double  rate[2] = {0, 0}; // [speculative]: tokens per ms; 0 = not measured yet
    int32_t run = 0;          // consecutive steps of the better arm since the other ran
};

// This step's arm: true = speculate.
bool rd_gate_choose(rd_spec_gate & g);

// Learn from a finished step of arm spec: tokens emitted in ms.
void rd_gate_update(rd_spec_gate & g, bool spec, int32_t tokens, double ms);
