// policy.cpp - the adaptive draft length (see policy.h).
#include "policy.h"

#include <algorithm>

static constexpr double ALPHA = 0.1;       // weight of the newest sample in the running means
static constexpr int32_t PROBE_EVERY = 16; // after this many plain steps, draft once anyway

static void ema(double & m, double x) { m += ALPHA * (x - m); }

void rd_policy_init(rd_draft_policy & pol) {
    pol = rd_draft_policy{};
    for (double & p : pol.p) p = 0.5;
}

int32_t rd_policy_choose(rd_draft_policy & pol, int32_t L_max) {
    // learn both costs first: one plain step measures the root, one full-length step the nodes
    if (!pol.have_root) return 0;
    if (!pol.have_node) return L_max;
    int32_t best = 0;
    double best_rate = 1.0 / pol.root_ms, reach = 1.0, tokens = 1.0;
    for (int32_t l = 1; l <= L_max; l++) {
        reach *= pol.p[l];
        tokens += reach;
        const double ms = pol.root_ms + l * (pol.nodes * pol.node_ms + pol.draft_ms);
        if (tokens / ms > best_rate) { best_rate = tokens / ms; best = l; }
    }
    if (best > 0) { pol.plain_run = 0; return best; }
    // acceptance is only learnt while drafting: probe now and then so a better phase is seen
    if (++pol.plain_run >= PROBE_EVERY) { pol.plain_run = 0; return L_max; }
    return 0;
}

void rd_policy_update(rd_draft_policy & pol, int32_t L_used, int32_t accepted, int32_t n_tree,
                      double t_verify_ms, double t_draft_ms) {
    if (L_used <= 0) {
        if (pol.have_root) ema(pol.root_ms, t_verify_ms);
        else { pol.root_ms = t_verify_ms; pol.have_root = true; }
        return;
    }
    for (int32_t k = 1; k <= std::min(accepted + 1, L_used); k++) ema(pol.p[k], k <= accepted ? 1.0 : 0.0);
    if (!pol.have_root || n_tree <= 1) return;
    const double nodes = (double) (n_tree - 1) / L_used;
    const double draft = t_draft_ms / L_used;
    const double per_node = std::max(0.0, (t_verify_ms - pol.root_ms) / (n_tree - 1));
    if (!pol.have_node) {
        pol.nodes = nodes;
        pol.draft_ms = draft;
        pol.node_ms = per_node;
        pol.have_node = true;
        return;
    }
    ema(pol.nodes, nodes);
    ema(pol.draft_ms, draft);
    ema(pol.node_ms, per_node);
}
