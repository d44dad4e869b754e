// session_score.cpp - scoring a text: the log-prob of every prompt token after the ones before
// it (rd_session_prompt_logprobs, OpenAI's echo with logprobs). The logits come from the LM head
// generation uses (the session's own when on, else llama.cpp's) and go through the sampler's
// log-softmax, so a token scores what it would have scored had the session generated it.
#include "session.h"

#include <algorithm>
#include <cstring>

// Rows decoded per call: every row is an output, and llama.cpp reserves V logits for each one
// (152k-token vocabularies: 39 MB at 64 rows, 311 MB at a 512-token prefill chunk).
static constexpr int32_t SCORE_CHUNK = 64;

rd_status rd_session_prompt_logprobs(rd_session * s, const int32_t * tokens, int32_t n, int32_t n_probs, float * out) try {
    if (!s || !tokens) return rd_fail(RD_ERR_INVALID_ARG, "rd_session_prompt_logprobs: session and tokens are required");
    session_reset(s);
    session_target & tg = s->target;
    if (n < 1) return rd_fail(RD_ERR_INVALID_ARG, "the prompt is empty");
    if (n > 1 && !out) return rd_fail(RD_ERR_INVALID_ARG, "rd_session_prompt_logprobs: out is required");
    if (n_probs < 0 || n_probs > RD_MAX_PROBS) return rd_fail(RD_ERR_INVALID_ARG, "n_probs must be in 0..%d (got %d)", RD_MAX_PROBS, n_probs);
    if (n > tg.n_ctx) return rd_fail(RD_ERR_CONTEXT_FULL, "the prompt has %d tokens but the context holds %d", n, tg.n_ctx);
    for (int32_t i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= s->m->n_vocab)
            return rd_fail(RD_ERR_INVALID_ARG, "prompt token %d at index %d is outside the vocabulary", tokens[i], i);

    const int32_t V = s->m->n_vocab, stride = 1 + 2 * n_probs, chunk = std::min(tg.n_batch, SCORE_CHUNK);
    const size_t d = (size_t) s->m->n_embd;
    session_head & lazy = s->lazy;
    lazy.wave_n = 0; // the step's cached wave does not survive this decode
    // position p's logits score tokens[p + 1]: the last token is never decoded
    for (int32_t i = 0; i < n - 1; i += chunk) {
        const int32_t k = std::min(chunk, n - 1 - i);
        tg.batch.n_tokens = 0;
        for (int32_t j = 0; j < k; j++) session_target_add(tg, tokens[i + j], i + j, 1u, true);
        tg.stop_at_norm = lazy.on;
        const rd_status st = session_target_decode(tg);
        tg.stop_at_norm = false;
        if (st != RD_OK) return st;
        for (int32_t j = 0; j < k;) {
            const int32_t cols = lazy.on ? std::min(s->m->head_cols, k - j) : 1;
            const float * logits;
            if (lazy.on) {
                for (int32_t c = 0; c < cols; c++)
                    memcpy(&lazy.wave_x[c * d], llama_get_embeddings_ith(tg.ctx, j + c), d * sizeof(float));
                if (!(logits = rd_head_run(lazy.head, lazy.wave_x.data(), cols)))
                    return rd_fail(RD_ERR_BACKEND, "the LM head's ggml graph failed");
            } else {
                logits = llama_get_logits_ith(tg.ctx, j);
            }
            for (int32_t c = 0; c < cols; c++, j++)
                rd_sampler_logprobs(logits + (size_t) c * V, V, tokens[i + j + 1], n_probs, out + (size_t) (i + j) * stride);
        }
    }
    return RD_OK;
} catch (...) {
    if (s) s->target.stop_at_norm = false;
    return rd_caught(__func__);
}
