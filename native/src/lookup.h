// lookup.h - a second source of draft tokens beside the drafter: the context itself. When the
// last few tokens (prompt + output so far) occurred before, the tokens that followed them then
// are proposed as one more beam of the step's tree (a copy, as in prompt-lookup decoding), so
// dynamic tree attention verifies drafter and copy in the same target call and shares what they
// agree on. Repetitive text (code, lists, quoted input, a small model's loops) is where the
// drafter, which sees only the last hidden state, cannot know what comes and the copy can.
// The output never depends on it: the acceptance walk draws every token from the target.
#pragma once

#include "policy.h"

#include <cstdint>

constexpr int32_t RD_LOOKUP_MAX_MATCH = 4; // longest suffix tried (and the match-length buckets)

// Copy proposal: the longest n in [n_min, RD_LOOKUP_MAX_MATCH] such that the last n tokens of
// hist[0..n_hist) occur earlier in hist; from their most recent earlier occurrence at j, the
// tokens that follow it: out[i] = hist[j + n + i], continuing into out itself past the end of
// hist (an overlapping copy: a loop of period p < K keeps going). Writes up to K tokens and
// returns how many (0: no match); *match = n.
int32_t rd_lookup_propose(const int32_t * hist, int32_t n_hist, int32_t n_min, int32_t K, int32_t * out,
                          int32_t * match);

// What the copy beam has earned, per match length and depth: p[n][k] = P(depth k accepted |
// depth k-1 accepted) for copies of an n-token match (running means, as the drafter's policy).
struct rd_lookup_policy {
    double  p[RD_LOOKUP_MAX_MATCH + 1][RD_MAX_BEAM_LENGTH + 1];
    int32_t skipped[RD_LOOKUP_MAX_MATCH + 1] = {}; // consecutive proposals not verified
};

void rd_lookup_policy_init(rd_lookup_policy & lp);

// How many of K copied tokens (of an n-token match) to verify: each further depth while its
// chance to be reached times what an emitted token saves (a plain step, less the head column
// every token pays anyway) exceeds the decode time of one more tree node, both measured by the
// drafter's policy (all K until it has measured them). A match that earns nothing is still
// verified at depth 1 after every 16 skips, so a change of phase is seen.
int32_t rd_lookup_length(rd_lookup_policy & lp, const rd_draft_policy & pol, int32_t match, int32_t K);

// Learn from a verified copy of `len` tokens (n-token match) of which `accepted` were accepted.
void rd_lookup_update(rd_lookup_policy & lp, int32_t match, int32_t len, int32_t accepted);
