// accept.cpp - the acceptance walk over a verified tree (DESIGN section 3, step 5).
// At node n the target's own next token x is drawn from logits(n) with the full sampler chain;
// if a child of n carries x the walk moves there, else x becomes the next step's g. Every
// emitted token is exactly one draw from the target in plain-decoding order, so greedy and
// seeded outputs equal autoregressive decoding token for token.
#include "session.h"

#include <cstring>

// The child of n the walk most likely moves to (node_p), or -1.
static int32_t likely_child(const rd_session * s, int32_t n) {
    const rd_tree & t = s->tree;
    int32_t best = -1;
    for (int32_t j = n + 1; j < t.n; j++)
        if (t.parent[j] == n && (best < 0 || s->node_p[j] > s->node_p[best])) best = j;
    return best;
}

// The head runs one column, or several at once (a wave: the node and the nodes the walk most
// likely reaches after it), whichever rd_head_wave expects to cost least given node_p and the
// cost per width: the session's own measure for the Q8_0 kernel (policy.h), else the check's.
const float * rd_node_logits(rd_session * s, int32_t node) {
    if (!s->step_lazy) return llama_get_logits_ith(s->ctx, node);
    for (int32_t k = 0; k < s->wave_n; k++)
        if (s->wave_node[k] == node) return s->wave_logits + (size_t) k * s->m->n_vocab;
    const size_t d = (size_t) s->m->n_embd;
    int32_t chain[RD_MAX_BEAM_LENGTH + 1], len = 0;
    double q[RD_MAX_BEAM_LENGTH + 1];
    for (int32_t j = node; j >= 0 && len <= RD_MAX_BEAM_LENGTH; j = likely_child(s, j)) {
        q[len] = s->node_p[j];
        chain[len++] = j;
    }
    double learnt[RD_HEAD_MAX_COLS + 1];
    const bool own = s->head.q8 && rd_policy_head_cost(s->policy, s->m->head_cols, learnt);
    const int32_t n = rd_head_wave(own ? learnt : s->m->head_cost, s->m->head_cols, q, len);
    for (int32_t k = 0; k < n; k++) {
        s->wave_node[k] = chain[k];
        memcpy(&s->wave_x[k * d], llama_get_embeddings_ith(s->ctx, chain[k]), d * sizeof(float));
    }
    const double t0 = rd_now_ms();
    s->wave_logits = rd_head_run(s->head, s->wave_x.data(), n);
    s->t_head_ms += rd_now_ms() - t0;
    s->wave_n = s->wave_logits ? n : 0;
    s->n_head += n;
    s->n_head_calls++;
    return s->wave_logits;
}

int32_t rd_accept_walk(rd_session * s, int32_t max_tokens, int32_t * out, float * logprobs,
                       int32_t * n_out, rd_finish * finish) {
    const rd_tree & t = s->tree;
    const int32_t stride = 1 + 2 * s->smp.n_probs;
    int32_t node = 0, n = 0;
    *finish = RD_FINISH_NONE;
    for (;;) {
        const float * logits = rd_node_logits(s, node);
        if (!logits) { node = -1; break; }
        const int32_t x = rd_sampler_next(s->smp, logits);
        if (x == RD_NO_TOKEN) { *finish = RD_FINISH_NO_TOKEN; break; }
        if (logprobs) rd_sampler_logprobs(logits, s->m->n_vocab, x, s->smp.n_probs, logprobs + (size_t) n * stride);
        out[n++] = x;
        s->g = x;
        if (!s->ignore_eos && llama_vocab_is_eog(s->m->vocab, x)) { *finish = RD_FINISH_EOS; break; }
        if (n == max_tokens) break;
        const int32_t child = rd_tree_child(t, node, x);
        if (child < 0) break;
        node = child;
    }
    *n_out = n;
    return node;
}
