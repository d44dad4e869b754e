/* test_errors.c - bad input gets a status and a message, never a crash or a hang: beam shape out
 * of range, prompts that do not fit, a context that fills up during generation, invalid sampler
 * values, a grammar that does not parse, calls in the wrong state, cancellation. */
#include "harness.h"

#include <math.h>
#include <string.h>

static rd_session_params params(int32_t n_ctx, int32_t B, int32_t L) {
    rd_session_params p;
    rd_session_default_params(&p);
    p.n_ctx = n_ctx;
    p.beam_width = B;
    p.beam_length = L;
    p.n_threads = 1;
    p.flash_attn = 0;
    return p;
}

static void expect_init(rd_model * m, rd_session_params p, rd_status want, const char * what) {
    rd_session * s = NULL;
    rd_status st = rd_session_init(m, NULL, &p, &s);
    CHECK(st == want, "%s: status %d (want %d): %s", what, st, want, rd_last_error());
    CHECK(want != RD_OK || s != NULL, "%s: session", what);
    CHECK(want == RD_OK || (s == NULL && rd_last_error()[0] != '\0'), "%s: no session and a message", what);
    rd_session_free(s);
}

static void test_beam_shapes(rd_model * m) {
    expect_init(m, params(256, 0, 4), RD_ERR_INVALID_ARG, "B = 0");
    expect_init(m, params(256, RD_MAX_BEAMS + 1, 4), RD_ERR_INVALID_ARG, "B too large");
    expect_init(m, params(256, 4, 0), RD_ERR_INVALID_ARG, "L = 0");
    expect_init(m, params(256, 4, RD_MAX_BEAM_LENGTH + 1), RD_ERR_INVALID_ARG, "L too large");
    expect_init(m, params(16, 4, 4), RD_ERR_INVALID_ARG, "tree larger than the context");
    expect_init(m, params(-5, 4, 4), RD_ERR_INVALID_ARG, "negative context");
    expect_init(m, params(512, 16, 16), RD_OK, "the largest tree");
}

static void test_context(rd_model * m) {
    rd_session_params p = params(64, 2, 2);
    rd_session * s = NULL;
    if (!CHECK_OK(rd_session_init(m, NULL, &p, &s))) return;
    const int32_t n_ctx = rd_session_n_ctx(s);
    int32_t prompt[1024];
    for (int i = 0; i < 1024; i++) prompt[i] = 10 + i % 50;
    rd_sampler_params sp;
    rd_sampler_default_params(&sp);
    sp.ignore_eos = true;

    CHECK_EQ_INT(rd_session_prefill(s, prompt, n_ctx, &sp), RD_ERR_CONTEXT_FULL);
    CHECK(strstr(rd_last_error(), "context") != NULL, "message names the context: %s", rd_last_error());
    CHECK_EQ_INT(rd_session_prefill(s, prompt, 0, &sp), RD_ERR_INVALID_ARG);
    int32_t bad = 1 << 30;
    CHECK_EQ_INT(rd_session_prefill(s, &bad, 1, &sp), RD_ERR_INVALID_ARG);

    /* the context fills during generation: every step is fine, then finish = LENGTH */
    int32_t out[8];
    rd_step_result r;
    if (CHECK_OK(rd_session_prefill(s, prompt, n_ctx - 4, &sp))) {
        int total = 0, steps = 0, finish = RD_FINISH_NONE;
        while (finish == RD_FINISH_NONE && steps < 100) {
            if (!CHECK_OK(rd_session_step(s, false, 8, out, NULL, &r))) break;
            total += r.n_tokens;
            finish = r.finish;
            steps++;
        }
        CHECK_EQ_INT(finish, RD_FINISH_LENGTH);
        CHECK(total >= 4 && total <= 5, "generated %d tokens into a context with 4 free cells", total);
        CHECK(rd_session_n_past(s) <= n_ctx, "n_past %d <= n_ctx %d", rd_session_n_past(s), n_ctx);
        /* injected beams that no longer fit are refused, not written past the cache */
        int32_t beams[4] = {5, 6, 7, 8};
        rd_status st = rd_session_step_beams(s, beams, 2, 2, 8, out, NULL, &r);
        CHECK(st == RD_ERR_CONTEXT_FULL || (st == RD_OK && r.finish == RD_FINISH_LENGTH), "beams past the end: %d", st);
    }
    rd_session_free(s);
}

static void test_sampler_values(rd_model * m) {
    rd_session_params p = params(128, 2, 2);
    rd_session * s = NULL;
    if (!CHECK_OK(rd_session_init(m, NULL, &p, &s))) return;
    const int32_t prompt[3] = {1, 20, 30};
    rd_sampler_params sp;
#define BAD(field, value) \
    rd_sampler_default_params(&sp); sp.field = value; \
    CHECK(rd_session_prefill(s, prompt, 3, &sp) == RD_ERR_INVALID_ARG, #field " = " #value ": %s", rd_last_error());
    BAD(temperature, NAN)
    BAD(top_k, -1)
    BAD(top_p, 0.0f)
    BAD(top_p, 1.5f)
    BAD(min_p, -0.1f)
    BAD(repeat_penalty, 0.0f)
    BAD(presence_penalty, INFINITY)
    BAD(n_probs, RD_MAX_PROBS + 1)
    BAD(penalty_last_n, -2)
#undef BAD
    int32_t tok = rd_model_n_vocab(m);
    float val = 1.0f;
    rd_sampler_default_params(&sp);
    sp.logit_bias_tokens = &tok;
    sp.logit_bias_values = &val;
    sp.n_logit_bias = 1;
    CHECK_EQ_INT(rd_session_prefill(s, prompt, 3, &sp), RD_ERR_INVALID_ARG);

    rd_sampler_default_params(&sp);
    sp.grammar = "root ::= \"unterminated";
    CHECK_EQ_INT(rd_session_prefill(s, prompt, 3, &sp), RD_ERR_GRAMMAR);
    sp.grammar = "root ::= \"a\"";
    sp.grammar_root = "nosuchrule";
    CHECK_EQ_INT(rd_session_prefill(s, prompt, 3, &sp), RD_ERR_GRAMMAR);

    /* after every failure the session is empty but reusable */
    int32_t out[4];
    rd_step_result r;
    CHECK_EQ_INT(rd_session_step(s, false, 4, out, NULL, &r), RD_ERR_STATE);
    rd_sampler_default_params(&sp);
    if (CHECK_OK(rd_session_prefill(s, prompt, 3, &sp))) {
        CHECK_EQ_INT(rd_session_step(s, false, 0, out, NULL, &r), RD_ERR_INVALID_ARG);
        CHECK_OK(rd_session_step(s, false, 4, out, NULL, &r));
        CHECK_EQ_INT(r.n_tokens, 1);
        /* cancellation: the next call stops, the session needs a new prefill */
        rd_session_cancel(s);
        CHECK_EQ_INT(rd_session_step(s, false, 4, out, NULL, &r), RD_ERR_CANCELLED);
        CHECK_EQ_INT(rd_session_step(s, false, 4, out, NULL, &r), RD_ERR_STATE);
        CHECK_OK(rd_session_prefill(s, prompt, 3, &sp));
        CHECK_OK(rd_session_step(s, false, 4, out, NULL, &r));
    }
    rd_session_free(s);
}

int main(void) {
    rd_model * m = rd_test_open_model();
    if (!m) return rd_test_done();
    test_beam_shapes(m);
    test_context(m);
    test_sampler_values(m);
    rd_model_free(m);
    return rd_test_done();
}
