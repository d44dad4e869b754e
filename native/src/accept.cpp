// accept.cpp - the acceptance walk over a verified tree (DESIGN section 3, step 5).
// At node n the target's own next token x is drawn from logits(n) with the full sampler chain;
// if a child of n carries x the walk moves there, else x becomes the next step's g. Every
// emitted token is exactly one draw from the target in plain-decoding order, so greedy and
// seeded outputs equal autoregressive decoding token for token. The logits of a node come from
// rd_node_logits (session_head.h): llama.cpp's, or the LM head on demand.
#include "session.h"

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
