// policy.h - how many draft steps a decoding step should verify. The verify cost grows with
// the tree (on a CPU with a 262k-token LM head, 4 nodes cost ~1.5x one), so drafting only pays
// while enough of the drafts are accepted. The policy learns online, per session: the chance
// that draft depth k is accepted once depth k-1 was, the verify time as root + per-node cost,
// and the drafter's time per step; each step takes the length with the most expected tokens
// per millisecond (0 = plain decoding). The output never depends on it: only the tree does.
#pragma once

#include "redrafter.h"

#include <cstdint>

struct rd_draft_policy {
    double  p[RD_MAX_BEAM_LENGTH + 1]; // p[k]: P(depth k accepted | depth k-1 accepted)
    double  root_ms = 0;               // verify time of a lone root (plain step)
    double  node_ms = 0;               // extra verify time per draft node
    double  draft_ms = 0;              // drafter time per draft step
    double  nodes = 0;                 // tree nodes per draft step (B minus shared prefixes)
    bool    have_root = false, have_node = false;
    int32_t plain_run = 0;             // consecutive steps the policy chose plain decoding
};

void rd_policy_init(rd_draft_policy & pol);

// Draft length for the next step, 0..L_max (L_max >= 1).
int32_t rd_policy_choose(rd_draft_policy & pol, int32_t L_max);

// Learn from a finished step that verified L_used draft steps (0 = plain).
void rd_policy_update(rd_draft_policy & pol, int32_t L_used, int32_t accepted, int32_t n_tree,
                      double t_verify_ms, double t_draft_ms);
