// test_policy.cpp - the adaptive draft length (native/src/policy.h) on synthetic steps: with
// good acceptance and cheap nodes it drafts at full length, with poor acceptance it falls back
// to plain decoding and still probes now and then, it measures before it decides, and with the
// LM head on demand (a head column per emitted token instead of per node) it drafts longer, and
// learns what the head adds per emitted token when several share a call;
// with the draft's own probabilities (calibrated from verified steps) it verifies confident
// drafts in full and skips unsure ones, and tells the drafter when to stop; steps carrying the
// context copy's nodes do not disturb what it measures.
// Also the head's wave width (head.h, rd_head_wave) on hand-computed expected costs.
#include "harness.h"
#include "head.h"
#include "policy.h"

#include <cmath>

// A plain step of root_ms, of which col_ms is the head on demand (0: llama.cpp's head).
static void plain(rd_draft_policy & pol, double root_ms, double col_ms = 0.0) {
    rd_step_cost c;
    c.t_decode_ms = root_ms - col_ms;
    c.t_head_ms = col_ms;
    c.n_head_calls = col_ms > 0 ? 1 : 0;
    rd_policy_update(pol, c);
}

// A step of B beams (no shared prefix). Decode time: the root (without its head column when the
// head runs on demand, col_ms > 0) plus node_ms per draft node; the head: col_ms per token.
// q: the drafted beam's probabilities, when known.
static void step(rd_draft_policy & pol, int32_t L, int32_t accepted, int32_t B, double root_ms, double node_ms,
                 double col_ms, const float * q = nullptr) {
    rd_step_cost c;
    c.q = q;
    c.L_used = L;
    c.accepted = accepted;
    c.n_tree = 1 + B * L;
    c.n_head = col_ms > 0 ? accepted + 1 : c.n_tree;
    c.n_head_calls = col_ms > 0 ? c.n_head : 0;
    c.n_tokens = accepted + 1;
    c.t_decode_ms = root_ms - col_ms + node_ms * (c.n_tree - 1);
    c.t_head_ms = col_ms * (col_ms > 0 ? c.n_head : 0);
    c.t_draft_ms = 0.5 * L;
    rd_policy_update(pol, c);
}

// Draft tokens accepted out of L when each is accepted with p_accept (a seeded LCG).
static int32_t accepted_of(uint32_t & rng, int32_t L, double p_accept) {
    int32_t accepted = 0;
    for (; accepted < L; accepted++) {
        rng = rng * 1664525u + 1013904223u;
        if ((rng >> 8) / 16777216.0 >= p_accept) break;
    }
    return accepted;
}

static void feed(rd_draft_policy & pol, int32_t steps, double p_accept, int32_t B, double root_ms, double node_ms,
                 double col_ms = 0.0) {
    uint32_t rng = 7;
    for (int32_t i = 0; i < steps; i++) {
        const int32_t L = rd_policy_choose(pol, 4);
        const int32_t accepted = accepted_of(rng, L, p_accept);
        if (L == 0) plain(pol, root_ms, col_ms);
        else step(pol, L, accepted, B, root_ms, node_ms, col_ms);
    }
}

static int32_t settled(double p_accept, int32_t B, double root_ms, double node_ms, double col_ms) {
    rd_draft_policy pol;
    rd_policy_init(pol);
    plain(pol, root_ms, col_ms);
    feed(pol, 300, p_accept, B, root_ms, node_ms, col_ms);
    return rd_policy_choose(pol, 4);
}

int main(void) {
    rd_draft_policy pol;
    rd_policy_init(pol);
    CHECK_EQ_INT(rd_policy_choose(pol, 4), 0); // measure a plain step first
    plain(pol, 40.0);
    CHECK_EQ_INT(rd_policy_choose(pol, 4), 4); // then a full tree

    // 90% acceptance, nodes at a tenth of the root: drafting pays, at full length
    feed(pol, 200, 0.9, 2, 40.0, 4.0);
    CHECK(rd_policy_choose(pol, 4) >= 3, "long drafts when 90%% are accepted");

    // acceptance collapses: plain decoding, with a full-length probe every 16 plain steps
    feed(pol, 300, 0.02, 2, 40.0, 4.0);
    int32_t drafted = 0;
    for (int32_t i = 0; i < 64; i++) {
        const int32_t L = rd_policy_choose(pol, 4);
        drafted += L > 0;
        if (L == 0) plain(pol, 40.0);
        else step(pol, L, 0, 2, 40.0, 4.0, 0.0);
    }
    CHECK(drafted >= 3 && drafted <= 5, "probed %d times in 64 steps", drafted);

    // moderate acceptance but costly nodes (a big LM head): short drafts win (expected tokens
    // per ms for L = 0..3: 1/40, 1.6/52.5, 1.96/65, 2.18/77.5)
    int32_t L = settled(0.6, 2, 40.0, 6.0, 0.0);
    CHECK(L >= 1 && L <= 2, "draft length %d with p = 0.6 and nodes at 0.15x the root", L);
    // the same acceptance with nodes at 0.3x the root does not pay: plain decoding
    CHECK_EQ_INT(settled(0.6, 2, 40.0, 12.0, 0.0), 0);

    // one beam, p = 0.6, a root of 40 ms of which the head is 10, nodes whose body costs 3 ms:
    // with llama.cpp's head on every node (13 ms a node) one draft token is best (tokens per ms
    // 1.6/53.5 > 1.96/67); with the head on demand (3 ms a node + 10 ms per extra token) three
    // (2.18/62.3 > 1.96/56.6, 2.30/67.0)
    CHECK_EQ_INT(settled(0.6, 1, 40.0, 13.0, 0.0), 1);
    L = settled(0.6, 1, 40.0, 3.0, 10.0);
    CHECK(L >= 2 && L <= 4, "draft length %d with the head on demand", L);

    // calibration: drafts the drafter is sure of (q = 0.95) are accepted 90% of the time, unsure
    // ones (q = 0.2) 10%, at every depth; the average (~50%) hides the difference
    {
        rd_draft_policy pol;
        rd_policy_init(pol);
        plain(pol, 40.0, 10.0);
        uint32_t rng = 11;
        for (int32_t i = 0; i < 400; i++) {
            const bool sure = i % 2 == 0;
            float q[4];
            for (float & v : q) v = sure ? 0.95f : 0.2f;
            // a root of 40 ms of which the head is 10, 6 ms a node, the head on demand
            step(pol, 4, accepted_of(rng, 4, sure ? 0.9 : 0.1), 1, 40.0, 6.0, 10.0, q);
        }
        const float sure[4] = {0.95f, 0.95f, 0.95f, 0.95f}, unsure[4] = {0.2f, 0.2f, 0.2f, 0.2f};
        const float mixed[4] = {0.95f, 0.95f, 0.2f, 0.2f};
        CHECK_NEAR(rd_policy_accept(pol, 1, sure), 0.9, 0.1);
        CHECK_NEAR(rd_policy_accept(pol, 1, unsure), 0.1, 0.1);
        CHECK_EQ_INT(rd_policy_choose(pol, 4, sure), 4);
        CHECK_EQ_INT(rd_policy_choose(pol, 4, unsure), 0);
        CHECK_EQ_INT(rd_policy_choose(pol, 4, mixed), 2);
        // the drafter's early stop: after a sure first step keep drafting, after an unsure one not
        const float nan = std::nanf("");
        const float first_sure[4] = {0.95f, nan, nan, nan}, first_unsure[4] = {0.2f, nan, nan, nan};
        CHECK(rd_policy_best(pol, 4, first_sure) > 1, "a sure first draft step is worth more steps");
        CHECK(rd_policy_best(pol, 4, first_unsure) <= 1, "an unsure first draft step ends the drafting");
        // a NaN probability counts as not drafted: the average applies
        CHECK_NEAR(rd_policy_accept(pol, 2, first_sure), pol.p[2], 1e-12);
    }

    // steps whose tree holds context-copy nodes (lookup.h): a copy-only step (no draft) is not
    // a plain step, and copy nodes do not count as the drafter's nodes per draft step
    {
        rd_draft_policy pol;
        rd_policy_init(pol);
        plain(pol, 40.0, 10.0);
        rd_step_cost c;
        c.n_tree = 9;        // root + 8 copied tokens, no drafter beam
        c.n_copy_nodes = 8;
        c.accepted = 8;
        c.n_head = 9;
        c.n_head_calls = 9;
        c.n_tokens = 9;
        c.t_head_ms = 90.0;  // 10 ms a column
        c.t_decode_ms = 30.0 + 8 * 3.0;
        rd_policy_update(pol, c);
        CHECK_NEAR(pol.root_ms, 40.0, 1e-9);
        CHECK_NEAR(pol.node_ms, 3.0, 1e-9);
        CHECK_NEAR(pol.col_ms, 10.0, 1e-9);
        CHECK_NEAR(pol.nodes, 0.0, 0.0); // not seen yet: no draft step
        CHECK_NEAR(pol.p[1], 0.5, 0.0);  // the drafter's acceptance untouched
        // a draft step of L = 2 (one beam) beside 5 copy-only nodes: one drafter node per step
        c = rd_step_cost{};
        c.L_used = 2;
        c.accepted = 1;
        c.n_tree = 1 + 2 + 5;
        c.n_copy_nodes = 5;
        c.n_head = 2;
        c.n_head_calls = 2;
        c.n_tokens = 2;
        c.t_head_ms = 20.0;
        c.t_decode_ms = 30.0 + 7 * 3.0;
        c.t_draft_ms = 1.0;
        rd_policy_update(pol, c);
        CHECK_NEAR(pol.nodes, 1.0, 1e-9);
        CHECK_NEAR(pol.node_ms, 3.0, 1e-9);
    }

    // the head on demand in plain steps too: root_ms is a plain step's decode and head together,
    // head1_ms its head; what a tree step's head costs beyond that one column, per token beyond
    // the first, is col_ms (columns sharing a call cost far less than a column each); a step whose
    // head ran one column says nothing about it
    {
        rd_draft_policy pol;
        rd_policy_init(pol);
        plain(pol, 40.0, 20.0);
        CHECK_NEAR(pol.root_ms, 40.0, 1e-9);
        CHECK_NEAR(pol.head1_ms, 20.0, 1e-9);
        rd_step_cost c;
        c.L_used = 4;
        c.accepted = 3;
        c.n_tree = 5;
        c.n_head = 5;   // one call of 5 columns, the last not reached
        c.n_head_calls = 1;
        c.n_tokens = 4;
        c.t_decode_ms = 20.0 + 4 * 2.0;
        c.t_head_ms = 26.0; // 1.3x one column
        double cost[6];
        CHECK(!rd_policy_head_cost(pol, 5, cost), "no wave cost before a call of several columns");
        rd_policy_update(pol, c);
        CHECK_NEAR(pol.node_ms, 2.0, 1e-9);
        CHECK_NEAR(pol.col_ms, 2.0, 1e-9); // (26 - 20) / 3
        // the wave costs: 1.5 ms per further column of a call, against 20 for one
        CHECK(rd_policy_head_cost(pol, 5, cost), "wave costs measured");
        CHECK_NEAR(cost[2], 1.075, 1e-9);
        CHECK_NEAR(cost[5], 1.3, 1e-9);
        c.accepted = 0;
        c.n_head = 1;
        c.n_head_calls = 1;
        c.n_tokens = 1;
        c.t_head_ms = 20.0;
        rd_policy_update(pol, c);
        CHECK_NEAR(pol.col_ms, 2.0, 1e-9);
    }

    // wave width, with Gemma's measured costs of 1..4 columns (1, 1.4, 1.56, 1.8)
    const double cost[5] = {0, 1.0, 1.4, 1.56, 1.8};
    const double q_half[3] = {0, 0.5, 0.55}; // a B = 1, L = 2 chain at ~tau 1.8
    // one at a time: 1 + 0.5 (1 + 0.55) = 1.775; node + child, then maybe the leaf: 1.4 + 0.275
    // = 1.675; all three: 1.56
    CHECK_EQ_INT(rd_head_wave(cost, 4, q_half, 3), 3);
    CHECK_EQ_INT(rd_head_wave(cost, 2, q_half, 3), 2); // at most 2 columns keep the bits
    const double q_low[3] = {0, 0.2, 0.5};             // 1.3 one at a time, 1.5 for a pair
    CHECK_EQ_INT(rd_head_wave(cost, 4, q_low, 3), 1);
    CHECK_EQ_INT(rd_head_wave(cost, 4, q_half, 1), 1); // a leaf: one column
    const double q_sure[6] = {0, 1, 1, 1, 1, 1};       // all reached: 3 + 3 columns (3.12) beat 4 + 2 (3.2)
    CHECK_EQ_INT(rd_head_wave(cost, 4, q_sure, 6), 3);
    CHECK_EQ_INT(rd_head_wave(cost, 4, q_sure, 4), 4); // 1.8 against 1.56 + 1

    // the gate: speculation measured first, then a plain step, then the better arm with the
    // other every 32 x lead (speculation ahead) or 8 (plain ahead) steps, following a change of text
    {
        rd_spec_gate g;
        CHECK(rd_gate_choose(g), "the gate measures speculation first");
        rd_gate_update(g, true, 3, 10.0); // 0.3 tokens per ms
        CHECK(!rd_gate_choose(g), "then a plain step");
        rd_gate_update(g, false, 1, 5.0); // 0.2
        int plain = 0;
        for (int i = 0; i < 96; i++) plain += !rd_gate_choose(g);
        CHECK_EQ_INT(plain, 2); // a lead of 1.5: one plain probe in 48 steps
        rd_spec_gate far;
        far.rate[0] = 0.1, far.rate[1] = 1.0; // a lead of 10: probes 256 steps apart
        plain = 0;
        for (int i = 0; i < 512; i++) plain += !rd_gate_choose(far);
        CHECK_EQ_INT(plain, 2);
        rd_gate_update(g, true, 0, 10.0);  // no tokens: not a measure
        rd_gate_update(g, true, 1, -1.0);  // nor a bad clock
        CHECK_NEAR(g.rate[1], 0.3, 1e-12);
        for (int i = 0; i < 12; i++) rd_gate_update(g, true, 1, 10.0); // drafts stop being accepted
        CHECK(g.rate[1] < 0.2, "the speculative mean follows (%g)", g.rate[1]);
        int spec = 0;
        for (int i = 0; i < 64; i++) spec += rd_gate_choose(g);
        CHECK_EQ_INT(spec, 8); // one speculative probe in 8 steps
    }
    return rd_test_done();
}
