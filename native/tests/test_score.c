/* test_score.c - scoring (rd_session_prompt_logprobs): a prompt token's log-prob and top
 * alternatives equal the ones plain greedy generation reported when it produced that token
 * (the prompt being the generation's own prefix + output), on the tiny model (llama.cpp's head
 * or the session's own F32 one) and with the output layer in Q8_0 (the head kernel); bad input
 * gets a status and leaves the session usable. Prints the largest difference. */
#include "harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_PREFIX 24
#define N_GEN 24
#define N_PROBS 4
#define STRIDE (1 + 2 * N_PROBS)
/* the prompt's positions are decoded in one batch, generation's one at a time: f32 sums in
 * another order (not a batch-invariant model) */
#define TOL 1e-3

static rd_session * new_session(rd_model * m, int32_t n_ctx) {
    rd_session_params p;
    rd_session_default_params(&p);
    p.n_ctx = n_ctx;
    p.n_threads = 1;
    p.kv_f32 = true;
    p.flash_attn = 0;
    rd_session * s = NULL;
    CHECK_OK(rd_session_init(m, NULL, &p, &s));
    return s;
}

static void compare(rd_model * m, const char * what) {
    rd_session * s = new_session(m, 128);
    if (!s) return;
    int32_t toks[256];
    const char * text = "The quick brown fox jumps over the lazy dog";
    int np = rd_model_tokenize(m, text, (int32_t) strlen(text), true, false, toks, 256);
    if (np > N_PREFIX) np = N_PREFIX;
    if (!CHECK(np > 1, "prompt tokenizes (%d)", np)) { rd_session_free(s); return; }
    rd_sampler_params sp;
    rd_sampler_default_params(&sp);
    sp.n_probs = N_PROBS;
    sp.ignore_eos = true;
    float gen_lp[N_GEN * STRIDE];
    int ng = 0;
    if (CHECK_OK(rd_session_prefill(s, toks, np, &sp))) {
        while (ng < N_GEN) {
            rd_step_result r;
            if (!CHECK_OK(rd_session_step(s, false, 1, toks + np + ng, gen_lp + ng * STRIDE, &r))) break;
            ng += r.n_tokens;
            if (r.finish != RD_FINISH_NONE) break;
        }
    }
    const int n = np + ng;
    float score[(N_PREFIX + N_GEN) * STRIDE];
    double diff = 0;
    int ids_same = 1;
    if (CHECK_OK(rd_session_prompt_logprobs(s, toks, n, N_PROBS, score))) {
        for (int g = 0; g < ng; g++) {
            const float * a = gen_lp + g * STRIDE, * b = score + (np + g - 1) * STRIDE;
            for (int k = 0; k < STRIDE; k++) {
                if (k % 2 == 1) ids_same &= a[k] == b[k] || fabs(a[k + 1] - b[k + 1]) < TOL; /* ties may swap */
                else diff = fmax(diff, fabs((double) a[k] - b[k]));
            }
        }
        for (int i = 0; i < n - 1; i++) CHECK(score[i * STRIDE] <= 0 && score[i * STRIDE] <= score[i * STRIDE + 2],
                                              "row %d: a log-prob <= 0, at most the top one's", i);
    }
    printf("%s: %d prompt + %d generated tokens, largest |generated - scored| log-prob %.3g\n", what, np, ng, diff);
    CHECK(ng == N_GEN, "generated %d tokens", ng);
    CHECK(diff <= TOL, "scored log-probs equal the generated ones (max diff %g)", diff);
    CHECK(ids_same, "the top alternatives are the same tokens");
    rd_step_result r;
    int32_t t;
    CHECK_EQ_INT(rd_session_step(s, false, 1, &t, NULL, &r), RD_ERR_STATE); /* scoring leaves it empty */
    rd_session_free(s);
}

static void errors(rd_model * m) {
    rd_session * s = new_session(m, 32);
    if (!s) return;
    const int n_ctx = rd_session_n_ctx(s);
    int32_t * toks = malloc(sizeof(int32_t) * (size_t) (n_ctx + 1));
    float * out = malloc(sizeof(float) * (size_t) (n_ctx * STRIDE));
    for (int i = 0; i <= n_ctx; i++) toks[i] = 1 + i % 40;
    CHECK_EQ_INT(rd_session_prompt_logprobs(NULL, toks, 4, 0, out), RD_ERR_INVALID_ARG);
    CHECK_EQ_INT(rd_session_prompt_logprobs(s, toks, 0, 0, out), RD_ERR_INVALID_ARG);
    CHECK_EQ_INT(rd_session_prompt_logprobs(s, toks, 4, 0, NULL), RD_ERR_INVALID_ARG);
    CHECK_EQ_INT(rd_session_prompt_logprobs(s, toks, 4, RD_MAX_PROBS + 1, out), RD_ERR_INVALID_ARG);
    CHECK_EQ_INT(rd_session_prompt_logprobs(s, toks, 4, -1, out), RD_ERR_INVALID_ARG);
    toks[2] = rd_model_n_vocab(m);
    CHECK_EQ_INT(rd_session_prompt_logprobs(s, toks, 4, 0, out), RD_ERR_INVALID_ARG);
    toks[2] = 3;
    CHECK_EQ_INT(rd_session_prompt_logprobs(s, toks, n_ctx + 1, 0, out), RD_ERR_CONTEXT_FULL);
    CHECK(strlen(rd_last_error()) > 0, "a message");
    /* a whole context scores (nothing is generated after it); one token has nothing to score */
    CHECK_OK(rd_session_prompt_logprobs(s, toks, n_ctx, 2, out));
    CHECK_OK(rd_session_prompt_logprobs(s, toks, 1, 2, NULL));
    rd_sampler_params sp;
    rd_sampler_default_params(&sp);
    rd_step_result r;
    int32_t t;
    if (CHECK_OK(rd_session_prefill(s, toks, 4, &sp))) CHECK_OK(rd_session_step(s, false, 1, &t, NULL, &r));
    free(toks);
    free(out);
    rd_session_free(s);
}

int main(void) {
    rd_model * m = rd_test_open_model();
    if (!m) return rd_test_done();
    compare(m, "tiny model");
    errors(m);
    rd_model * q8 = rd_test_open_model_q8();
    if (q8) compare(q8, "tiny model, Q8_0 output layer");
    rd_model_free(q8);
    rd_model_free(m);
    return rd_test_done();
}
