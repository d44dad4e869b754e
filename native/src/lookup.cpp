// lookup.cpp - the context-copy beam (see lookup.h).
#include "lookup.h"

#include <algorithm>

static constexpr double ALPHA = 0.1;       // weight of the newest sample in the running means
static constexpr double PRIOR = 0.7;       // a copy's chance per depth before any is verified
static constexpr int32_t PROBE_EVERY = 16; // verify a skipped match kind once in this many

int32_t rd_lookup_propose(const int32_t * hist, int32_t n_hist, int32_t n_min, int32_t K, int32_t * out,
                          int32_t * match) {
    *match = 0;
    if (!hist || K < 1 || n_min < 1) return 0;
    for (int32_t n = std::min(RD_LOOKUP_MAX_MATCH, n_hist - 1); n >= n_min; n--) {
        const int32_t * suf = hist + n_hist - n;
        for (int32_t j = n_hist - n - 1; j >= 0; j--) {
            if (!std::equal(suf, suf + n, hist + j)) continue;
            const int32_t from = j + n; // <= n_hist - 1: at least one token follows
            for (int32_t i = 0; i < K; i++) {
                const int32_t src = from + i;
                out[i] = src < n_hist ? hist[src] : out[src - n_hist];
            }
            *match = n;
            return K;
        }
    }
    return 0;
}

void rd_lookup_policy_init(rd_lookup_policy & lp) {
    lp = rd_lookup_policy{};
    for (auto & row : lp.p)
        for (double & x : row) x = PRIOR;
}

int32_t rd_lookup_length(rd_lookup_policy & lp, const rd_draft_policy & pol, int32_t match, int32_t K) {
    if (match < 1 || K < 1) return 0;
    match = std::min(match, RD_LOOKUP_MAX_MATCH);
    K = std::min(K, RD_MAX_BEAM_LENGTH);
    if (!pol.have_root || !pol.have_node) return K;
    const double gain = pol.root_ms - pol.col_ms; // the col_ms is 0 when llama.cpp runs the head
    double reach = 1.0;
    int32_t len = 0;
    while (len < K) {
        reach *= lp.p[match][len + 1];
        if (reach * gain <= pol.node_ms) break;
        len++;
    }
    if (len > 0) lp.skipped[match] = 0;
    else if (++lp.skipped[match] >= PROBE_EVERY) { lp.skipped[match] = 0; len = 1; }
    return len;
}

void rd_lookup_update(rd_lookup_policy & lp, int32_t match, int32_t len, int32_t accepted) {
    if (match < 1 || len < 1) return;
    match = std::min(match, RD_LOOKUP_MAX_MATCH);
    for (int32_t k = 1; k <= std::min(accepted + 1, std::min(len, RD_MAX_BEAM_LENGTH)); k++)
        lp.p[match][k] += ALPHA * ((k <= accepted ? 1.0 : 0.0) - lp.p[match][k]);
}
