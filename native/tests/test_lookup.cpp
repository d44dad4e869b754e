// test_lookup.cpp - the context-copy beam (native/src/lookup.h): which earlier occurrence it
// copies from (the longest suffix match, then the most recent), that a copy runs on through a
// loop shorter than the beam, how many copied tokens the policy verifies as they earn or fail,
// and how the copy joins the tree beside the drafter's beams (tree.h).
#include "harness.h"
#include "lookup.h"
#include "tree.h"

#include <vector>

static int32_t propose(const std::vector<int32_t> & h, int32_t n_min, int32_t K, std::vector<int32_t> & out,
                       int32_t * match) {
    out.assign((size_t) K, -1);
    return rd_lookup_propose(h.data(), (int32_t) h.size(), n_min, K, out.data(), match);
}

static void test_propose() {
    std::vector<int32_t> out;
    int32_t match = -1;
    // nothing repeats: no proposal
    CHECK_EQ_INT(propose({1, 2, 3, 4}, 1, 4, out, &match), 0);
    CHECK_EQ_INT(match, 0);
    // suffix (7 8) occurred twice; the 1-token suffix (8) more recently: the longer match wins,
    // and of its occurrences the most recent: ... 7 8 | 5 6 ...
    const std::vector<int32_t> h = {7, 8, 1, 2, 3, 7, 8, 5, 6, 8, 9, 7, 8};
    CHECK_EQ_INT(propose(h, 1, 3, out, &match), 3);
    CHECK_EQ_INT(match, 2);
    CHECK_EQ_INT(out[0], 5);
    CHECK_EQ_INT(out[1], 6);
    CHECK_EQ_INT(out[2], 8);
    // n_min above every match length: nothing
    CHECK_EQ_INT(propose({1, 2, 9, 2}, 2, 3, out, &match), 0);
    // a loop of period 2 shorter than the beam: the copy runs on through its own tokens
    CHECK_EQ_INT(propose({5, 107, 42, 107, 42}, 1, 6, out, &match), 6);
    CHECK_EQ_INT(match, 2); // 107 42 at index 1 (42 107 42 and longer never occurred)
    const int32_t loop[6] = {107, 42, 107, 42, 107, 42};
    bool same = true;
    for (int32_t i = 0; i < 6; i++) same &= out[(size_t) i] == loop[i];
    CHECK(same, "the copy continues the loop");
    // one token repeated: its continuation is itself
    CHECK_EQ_INT(propose({3, 3}, 1, 4, out, &match), 4);
    CHECK(out[0] == 3 && out[3] == 3, "a run of one token continues");
    // bad arguments propose nothing
    CHECK_EQ_INT(rd_lookup_propose(nullptr, 4, 1, 4, out.data(), &match), 0);
    CHECK_EQ_INT(rd_lookup_propose(h.data(), (int32_t) h.size(), 1, 0, out.data(), &match), 0);
}

static rd_draft_policy measured(double root_ms, double node_ms, double col_ms) {
    rd_draft_policy pol;
    rd_policy_init(pol);
    pol.root_ms = root_ms;
    pol.node_ms = node_ms;
    pol.col_ms = col_ms;
    pol.have_root = pol.have_node = true;
    return pol;
}

static void test_length() {
    rd_lookup_policy lp;
    rd_lookup_policy_init(lp);
    rd_draft_policy pol;
    rd_policy_init(pol);
    // before the costs are measured: the whole copy
    CHECK_EQ_INT(rd_lookup_length(lp, pol, 2, 8), 8);
    CHECK_EQ_INT(rd_lookup_length(lp, pol, 0, 8), 0); // no match, no copy
    // Gemma on this CPU: plain step 36 ms, head column 20, extra node 3.5; copies that are
    // always accepted are verified in full
    pol = measured(36.0, 3.5, 20.0);
    for (int32_t i = 0; i < 50; i++) rd_lookup_update(lp, 2, 8, 8);
    CHECK_EQ_INT(rd_lookup_length(lp, pol, 2, 8), 8);
    // 1-token matches that are never accepted: not verified, except one probe per 16
    for (int32_t i = 0; i < 50; i++) rd_lookup_update(lp, 1, 4, 0);
    int32_t verified = 0, probes = 0;
    for (int32_t i = 0; i < 32; i++) {
        const int32_t n = rd_lookup_length(lp, pol, 1, 8);
        verified += n;
        probes += n > 0;
    }
    CHECK_EQ_INT(probes, 2);
    CHECK_EQ_INT(verified, 2);
    // the other match lengths kept their own record
    CHECK_EQ_INT(rd_lookup_length(lp, pol, 2, 8), 8);
    // half the depths accepted: reach halves per depth; 36-20 = 16 ms saved per token against
    // 3.5 ms a node pays depths with reach > 0.22, i.e. 0.5 and 0.25: two
    for (int32_t i = 0; i < 200; i++) {
        rd_lookup_update(lp, 3, 8, 0);
        rd_lookup_update(lp, 3, 8, 1);
        rd_lookup_update(lp, 3, 8, 2);
        rd_lookup_update(lp, 3, 8, 8);
    }
    CHECK_NEAR(lp.p[3][1], 0.75, 0.1);
    const int32_t n3 = rd_lookup_length(lp, pol, 3, 8);
    CHECK(n3 >= 2 && n3 <= 8, "a copy accepted often enough is verified (%d)", n3);
    // dearer nodes shorten it
    rd_draft_policy dear = measured(36.0, 12.0, 20.0);
    CHECK(rd_lookup_length(lp, dear, 3, 8) < n3, "dearer nodes verify fewer copied tokens");
    // matches longer than the table use its last row; lengths are capped by the beam limit
    for (int32_t i = 0; i < 50; i++) rd_lookup_update(lp, RD_LOOKUP_MAX_MATCH, RD_MAX_BEAM_LENGTH, RD_MAX_BEAM_LENGTH);
    CHECK_EQ_INT(rd_lookup_length(lp, pol, 9, 40), RD_MAX_BEAM_LENGTH);
}

static void test_tree() {
    // drafter beams (B = 2, L = 2): [5 6] and [5 7]; the copy [5 6 9 9] shares [5 6]
    const int32_t beams[4] = {5, 6, 5, 7};
    const int32_t copy[4] = {5, 6, 9, 9};
    rd_tree t;
    rd_tree_build(t, 1, beams, 2, 2, 0x7u, copy, 4, 2);
    CHECK_EQ_INT(t.n, 6); // root, 5, 6, 7, 9, 9
    bool bfs = true;
    for (int32_t i = 1; i < t.n; i++) bfs &= t.depth[i] >= t.depth[i - 1] && t.depth[t.parent[i]] == t.depth[i] - 1;
    CHECK(bfs, "breadth-first, parents one level up");
    CHECK_EQ_INT(t.token[1], 5);
    CHECK_EQ_INT(t.seqs[1], 0x7);          // both beams and the copy
    CHECK_EQ_INT(t.token[2], 6);
    CHECK_EQ_INT(t.seqs[2], 0x5);          // beam 0 and the copy
    CHECK_EQ_INT(t.seqs[3], 0x2);          // 7: beam 1 only
    CHECK_EQ_INT(t.depth[5], 4);
    CHECK_EQ_INT(t.seqs[5], 0x4);          // the copy alone beyond the beams
    CHECK_EQ_INT(rd_tree_child(t, 2, 9), 4);
    // without a copy: the drafter's tree as before
    rd_tree_build(t, 1, beams, 2, 2, 0x3u);
    CHECK_EQ_INT(t.n, 4);
    // a copy alone (no beams)
    rd_tree_build(t, 1, nullptr, 0, 0, 0x3u, copy, 3, 1);
    CHECK_EQ_INT(t.n, 4);
    CHECK_EQ_INT(t.seqs[3], 0x2);
}

int main() {
    test_propose();
    test_length();
    test_tree();
    return rd_test_done();
}
