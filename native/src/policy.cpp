// policy.cpp - the adaptive draft length (see policy.h).
#include "policy.h"

#include <algorithm>

static constexpr double ALPHA = 0.1;       // weight of the newest sample in the running means
static constexpr int32_t PROBE_EVERY = 16; // after this many plain steps, draft once anyway

static void ema(double & m, double x) { m += ALPHA * (x - m); }

static constexpr int32_t GATE_PLAIN_EVERY = 32; // speculation winning: one plain step in this many
static constexpr int32_t GATE_PLAIN_MAX = 256;  //   times its lead (tokens per ms over plain's), at most this
static constexpr int32_t GATE_SPEC_EVERY = 8;   // plain winning: one speculative step in this many
static constexpr double  GATE_ALPHA = 0.25;     // the arms' means: the rarer arm has few samples

bool rd_gate_choose(rd_spec_gate & g) {
    if (!(g.rate[1] > 0.0)) return true;  // measure speculation first,
    if (!(g.rate[0] > 0.0)) return false; // then a plain step
    const bool spec = g.rate[1] >= g.rate[0];
    // a plain probe costs about (lead - 1) / lead of a step's tokens: rarer the further ahead
    // speculation is (Gemma's defaults lead by 2-3x), up to GATE_PLAIN_MAX steps apart
    const double lead = g.rate[1] / g.rate[0];
    const int32_t every = spec ? (int32_t) std::min((double) GATE_PLAIN_MAX, GATE_PLAIN_EVERY * lead) : GATE_SPEC_EVERY;
    if (++g.run >= every) {
        g.run = 0;
        return !spec;
    }
    return spec;
}

void rd_gate_update(rd_spec_gate & g, bool spec, int32_t tokens, double ms) {
    if (!(ms > 0.0) || tokens < 1) return;
    double & r = g.rate[spec ? 1 : 0];
    const double x = tokens / ms;
    r = r > 0.0 ? r + GATE_ALPHA * (x - r) : x;
}

static int32_t bin(float q) {
    if (!(q > 0.0f)) return 0; // also NaN: converting it to an integer would be undefined
    if (q >= 1.0f) return RD_POLICY_BINS - 1;
    return std::min(RD_POLICY_BINS - 1, (int32_t) (q * RD_POLICY_BINS));
}

void rd_policy_init(rd_draft_policy & pol) {
    pol = rd_draft_policy{};
    for (double & p : pol.p) p = 0.5;
    // until measured, a draft is taken to be as good as the drafter thinks (the bin's middle)
    for (auto & row : pol.cal)
        for (int32_t b = 0; b < RD_POLICY_BINS; b++) row[b] = (b + 0.5) / RD_POLICY_BINS;
}

static bool known(const float * q, int32_t k) { return q && q[k - 1] == q[k - 1]; } // NaN: not drafted

double rd_policy_accept(const rd_draft_policy & pol, int32_t k, const float * q) {
    return known(q, k) ? pol.cal[k][bin(q[k - 1])] : pol.p[k];
}

int32_t rd_policy_best(const rd_draft_policy & pol, int32_t L_max, const float * q) {
    int32_t best = 0;
    double best_rate = 1.0 / pol.root_ms, reach = 1.0, tokens = 1.0, draft_ms = 0.0;
    for (int32_t l = 1; l <= L_max; l++) {
        reach *= rd_policy_accept(pol, l, q);
        tokens += reach;
        if (!known(q, l)) draft_ms += pol.draft_ms; // a step still to be drafted
        // with the head on demand, each emitted token beyond the first costs one head column
        const double ms = pol.root_ms + l * pol.nodes * pol.node_ms + draft_ms + (tokens - 1.0) * pol.col_ms;
        if (tokens / ms > best_rate) { best_rate = tokens / ms; best = l; }
    }
    return best;
}

int32_t rd_policy_choose(rd_draft_policy & pol, int32_t L_max, const float * q) {
    // learn both costs first: one plain step measures the root, one full-length step the nodes
    if (!pol.have_root) return 0;
    if (!pol.have_node) return L_max;
    const int32_t best = rd_policy_best(pol, L_max, q);
    if (best > 0) { pol.plain_run = 0; return best; }
    // acceptance is only learnt while drafting: probe now and then so a better phase is seen
    if (++pol.plain_run >= PROBE_EVERY) { pol.plain_run = 0; return L_max; }
    return 0;
}

// The head on demand's calls: head1_ms from steps whose calls ran one column each, then the
// further columns' share of the others.
static void learn_head(rd_draft_policy & pol, const rd_step_cost & c) {
    if (c.n_head_calls < 1 || c.t_head_ms <= 0) return;
    if (c.n_head == c.n_head_calls) {
        const double one = c.t_head_ms / c.n_head_calls;
        if (pol.head1_ms > 0) ema(pol.head1_ms, one);
        else pol.head1_ms = one;
    } else if (pol.head1_ms > 0) {
        const double more = std::max(0.0, (c.t_head_ms - c.n_head_calls * pol.head1_ms) / (c.n_head - c.n_head_calls));
        if (pol.head_more_ms > 0) ema(pol.head_more_ms, more);
        else pol.head_more_ms = more;
    }
}

bool rd_policy_head_cost(const rd_draft_policy & pol, int32_t max_cols, double * cost) {
    if (!(pol.head1_ms > 0 && pol.head_more_ms > 0)) return false;
    cost[0] = 0.0;
    for (int32_t k = 1; k <= max_cols; k++) cost[k] = 1.0 + (k - 1) * pol.head_more_ms / pol.head1_ms;
    return true;
}

void rd_policy_update(rd_draft_policy & pol, const rd_step_cost & c) {
    const int32_t drafted = c.n_drafted > 0 ? c.n_drafted : c.L_used;
    if (drafted > 0 && pol.have_node) ema(pol.draft_ms, c.t_draft_ms / drafted);
    learn_head(pol, c);
    if (c.n_tree <= 1) { // a plain step
        if (pol.have_root) ema(pol.root_ms, c.t_decode_ms + c.t_head_ms);
        else pol.root_ms = c.t_decode_ms + c.t_head_ms, pol.have_root = true;
        return;
    }
    for (int32_t k = 1; k <= std::min(c.accepted + 1, c.L_used); k++) {
        ema(pol.p[k], k <= c.accepted ? 1.0 : 0.0);
        if (known(c.q, k)) ema(pol.cal[k][bin(c.q[k - 1])], k <= c.accepted ? 1.0 : 0.0);
    }
    if (!pol.have_root) return;
    // on demand, the decode stops before the head: compare it with a plain step's decode alone
    const double per_node = std::max(0.0, (c.t_decode_ms - (pol.root_ms - pol.head1_ms)) / (c.n_tree - 1));
    // what the head cost beyond a plain step's one column, per token beyond the first (columns
    // run ahead of the walk and not reached included); a one-column step says nothing about it
    const bool cols = c.t_head_ms > 0 && c.n_head > 1;
    const double col = cols ? std::max(0.0, (c.t_head_ms - pol.head1_ms) / std::max(1, c.n_tokens - 1)) : 0.0;
    if (c.L_used > 0) { // the drafter's nodes per draft step (B less shared prefixes), copy aside
        const double nodes = (double) (c.n_tree - 1 - c.n_copy_nodes) / c.L_used;
        if (pol.nodes > 0) ema(pol.nodes, nodes);
        else pol.nodes = nodes;
    }
    if (!pol.have_node) {
        if (drafted > 0) pol.draft_ms = c.t_draft_ms / drafted;
        pol.node_ms = per_node;
        pol.col_ms = cols ? col : pol.head1_ms; // until measured: a whole column per token
        pol.have_node = true;
        return;
    }
    ema(pol.node_ms, per_node);
    if (cols) ema(pol.col_ms, col);
}
