// session_policy.cpp - a step's choice of drafter and copy beams, and what it learns after
// (see session_policy.h).
#include "session.h"
#include "drafter.h"

#include <algorithm>
#include <cmath>
#include <cstring>

rd_status session_draft_beams(rd_session * s, int32_t max_tokens, int32_t * B, int32_t * L, int32_t * drafted) {
    session_draft & dr = s->draft;
    *B = *L = *drafted = 0;
    // shorten the beams near the end of the context: the tree needs n_past + N cells
    int32_t len = std::min(dr.L, (s->target.n_ctx - s->n_past - 1) / dr.B);
    len = std::min(len, max_tokens - 1); // drafts past the budget could never be emitted
    // adaptive: the first steps measure the costs (rd_policy_choose); after that the drafter
    // goes step by step while the policy, reading the best beam's own probabilities so far
    // (policy.h), expects more depth to pay, and the policy then cuts the beams to the
    // length worth verifying (0: a plain step)
    const bool calibrated = dr.adaptive && dr.policy.have_root && dr.policy.have_node;
    if (len > 0 && dr.adaptive && !calibrated) len = rd_policy_choose(dr.policy, len);
    if (len <= 0) return RD_OK;
    const int32_t width = s->target.invariant ? 1 : dr.B; // one chain per step: see session_one_chain
    const int32_t L_max = len;
    auto read_q = [&dr](int32_t k, const float * sums) { // beam 0's sums come first
        for (int32_t j = 0; j < k; j++) dr.q[j] = std::exp(sums[j] - (j > 0 ? sums[j - 1] : 0.0f));
    };
    rd_draft_gate more;
    if (calibrated)
        more = [&](int32_t k, const float * sums) {
            read_q(k, sums);
            std::fill(dr.q + k, dr.q + L_max, NAN);
            return rd_policy_best(dr.policy, L_max, dr.q) > k;
        };
    if (rd_status st = rd_drafter_beam_search(s->d, s->h.data(), s->g, width, len, dr.beams.data(), dr.beam_logp.data(),
                                              dr.step_logp.data(), more, &len, s->target.body_pool.get());
        st != RD_OK)
        return st;
    *drafted = len;
    read_q(len, dr.step_logp.data());
    *B = width;
    if (calibrated) {
        const int32_t keep = rd_policy_choose(dr.policy, len, dr.q);
        // the first keep tokens of each beam, packed to the new stride
        for (int32_t b = 1; b < width && keep > 0; b++)
            memmove(&dr.beams[(size_t) (b * keep)], &dr.beams[(size_t) (b * len)], sizeof(int32_t) * (size_t) keep);
        len = keep;
        if (len == 0) *B = 0;
    }
    *L = len;
    return RD_OK;
}

void session_copy_propose(rd_session * s, int32_t max_tokens, int32_t B, int32_t L) {
    session_copy & c = s->copy;
    const int32_t K = std::min({c.max, s->target.n_ctx - s->n_past - 1 - B * L, max_tokens - 1});
    const int32_t n = rd_lookup_propose(s->hist.data(), (int32_t) s->hist.size(), 1, K, c.tok, &c.match);
    c.n = s->draft.adaptive ? rd_lookup_length(c.pol, s->draft.policy, c.match, n) : n;
}

uint32_t session_copy_bit(const rd_session * s) { return s->copy.n > 0 ? 1u << (s->target.n_seq - 1) : 0u; }

// A batch_invariant session verifies one chain per step: llama.cpp gives a tree's tokens
// consecutive free KV cells in batch order, and flash attention visits cells in cell order, so
// the accepted tokens must be the first tokens of the batch to sit where plain decoding puts
// them (a path through a later branch would leave holes before it, which the next step fills
// with later positions). So one drafter beam (B <= 1, beam 0), and where it and the copy beam
// part, only the one that expects more accepted tokens after the parting (the other is cut to
// the shared prefix; L = 0 then means no drafter beam).
void session_one_chain(rd_session * s, int32_t & B, int32_t & L) {
    session_copy & c = s->copy;
    if (B == 0 || L == 0 || c.n == 0) return;
    int32_t k0 = 0;
    while (k0 < std::min(L, c.n) && s->draft.beams[(size_t) k0] == c.tok[k0]) k0++;
    if (k0 == L || k0 == c.n) return; // one is a prefix of the other: one chain already
    double drafter = 0, copy = 0, reach = 1;
    for (int32_t k = k0 + 1; k <= L; k++) drafter += reach *= rd_policy_accept(s->draft.policy, k, s->draft.q);
    reach = 1;
    const double * cp = c.pol.p[std::min(c.match, RD_LOOKUP_MAX_MATCH)];
    for (int32_t k = k0 + 1; k <= c.n; k++) copy += reach *= cp[k];
    if (drafter >= copy) c.n = k0;
    else if ((L = k0) == 0) B = 0;
}

// P(the walk reaches node | it reached the parent), for the head's waves: the drafter's
// acceptance at that depth (calibrated by the draft probabilities on the best beam, sequence 0)
// and the copy's, whichever is higher where both beams pass.
void session_node_chances(rd_session * s, int32_t B) {
    const rd_tree & t = s->tree;
    const uint32_t drafter = B >= 32 ? 0xFFFFFFFFu : (1u << B) - 1u;
    const uint32_t copy = session_copy_bit(s);
    const double * cp = s->copy.pol.p[std::min(s->copy.match, RD_LOOKUP_MAX_MATCH)];
    s->node_p[0] = 1.0;
    for (int32_t i = 1; i < t.n; i++) {
        double p = 0.0;
        if (t.seqs[i] & drafter) p = rd_policy_accept(s->draft.policy, t.depth[i], (t.seqs[i] & 1u) ? s->draft.step_q : nullptr);
        if (t.seqs[i] & copy) p = std::max(p, cp[t.depth[i]]);
        s->node_p[i] = p;
    }
}

// The acceptance rates also size the head's waves (session_head.cpp), so they are learnt with a
// fixed length and from injected beams too.
void session_learn(rd_session * s, int32_t L, int32_t drafted, const rd_step_result & r) {
    rd_step_cost c;
    c.q = s->draft.step_q;
    c.n_drafted = drafted;
    c.L_used = L;
    c.accepted = std::min(L, r.n_accepted - r.n_copy_accepted); // the drafter's own share of the path
    c.n_tree = r.n_tree;
    const uint32_t copy = session_copy_bit(s);
    for (int32_t i = 1; i < s->tree.n; i++) c.n_copy_nodes += copy && s->tree.seqs[i] == copy;
    c.n_head = r.n_head;
    c.n_head_calls = s->lazy.n_calls;
    c.n_tokens = r.n_tokens;
    c.t_head_ms = r.t_head_ms;
    c.t_decode_ms = r.t_verify_ms - c.t_head_ms;
    c.t_draft_ms = r.t_draft_ms;
    rd_policy_update(s->draft.policy, c);
    rd_lookup_update(s->copy.pol, s->copy.match, s->copy.n, s->copy.accepted);
}
