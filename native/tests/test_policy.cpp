// test_policy.cpp - the adaptive draft length (native/src/policy.h) on synthetic steps: with
// good acceptance and cheap nodes it drafts at full length, with poor acceptance it falls back
// to plain decoding and still probes now and then, and it measures before it decides.
#include "harness.h"
#include "policy.h"

static void feed(rd_draft_policy & pol, int32_t steps, double p_accept, double root_ms, double node_ms) {
    uint32_t rng = 7;
    for (int32_t i = 0; i < steps; i++) {
        const int32_t L = rd_policy_choose(pol, 4);
        int32_t accepted = 0;
        for (; accepted < L; accepted++) {
            rng = rng * 1664525u + 1013904223u;
            if ((rng >> 8) / 16777216.0 >= p_accept) break;
        }
        const int32_t n_tree = 1 + 2 * L; // two beams, no shared prefix
        rd_policy_update(pol, L, accepted, n_tree, root_ms + node_ms * (n_tree - 1), 0.5 * L);
    }
}

int main(void) {
    rd_draft_policy pol;
    rd_policy_init(pol);
    CHECK_EQ_INT(rd_policy_choose(pol, 4), 0); // measure a plain step first
    rd_policy_update(pol, 0, 0, 1, 40.0, 0.0);
    CHECK_EQ_INT(rd_policy_choose(pol, 4), 4); // then a full tree

    // 90% acceptance, nodes at a tenth of the root: drafting pays, at full length
    feed(pol, 200, 0.9, 40.0, 4.0);
    CHECK(rd_policy_choose(pol, 4) >= 3, "long drafts when 90%% are accepted");

    // acceptance collapses: plain decoding, with a full-length probe every 16 plain steps
    feed(pol, 300, 0.02, 40.0, 4.0);
    int32_t drafted = 0;
    for (int32_t i = 0; i < 64; i++) {
        const int32_t L = rd_policy_choose(pol, 4);
        drafted += L > 0;
        rd_policy_update(pol, L, 0, 1 + 2 * L, 40.0 + 8.0 * L, 0.5 * L);
    }
    CHECK(drafted >= 3 && drafted <= 5, "probed %d times in 64 steps", drafted);

    // moderate acceptance but costly nodes (a big LM head): short drafts win (expected tokens
    // per ms for L = 0..3: 1/40, 1.6/52.5, 1.96/65, 2.18/77.5)
    rd_policy_init(pol);
    rd_policy_update(pol, 0, 0, 1, 40.0, 0.0);
    feed(pol, 300, 0.6, 40.0, 6.0);
    const int32_t L = rd_policy_choose(pol, 4);
    CHECK(L >= 1 && L <= 2, "draft length %d with p = 0.6 and nodes at 0.15x the root", L);
    // the same acceptance with nodes at 0.3x the root does not pay: plain decoding
    rd_policy_init(pol);
    rd_policy_update(pol, 0, 0, 1, 40.0, 0.0);
    feed(pol, 300, 0.6, 40.0, 12.0);
    CHECK_EQ_INT(rd_policy_choose(pol, 4), 0);
    return rd_test_done();
}
