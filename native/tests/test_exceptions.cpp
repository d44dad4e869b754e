// test_exceptions.cpp - no C++ exception crosses the C API. A sampler planted in a session's
// chain throws from inside llama.cpp's sampling, as its grammar sampler can: the step returns
// RD_ERR_INTERNAL with the exception's message (RD_ERR_NO_MEMORY for std::bad_alloc), from the
// first token and from the acceptance walk, and the session works again after a new prefill.
#include "harness.h"
#include "session.h"

#include <cstring>
#include <new>
#include <stdexcept>

static const char * g_throw = nullptr; // what the planted sampler throws: null = nothing

static void throwing_apply(llama_sampler *, llama_token_data_array *) {
    if (!g_throw) return;
    if (strcmp(g_throw, "bad_alloc") == 0) throw std::bad_alloc();
    throw std::runtime_error(g_throw);
}

static llama_sampler_i throwing_iface() {
    llama_sampler_i i{}; // every optional hook null
    i.apply = throwing_apply;
    return i;
}
static llama_sampler_i g_iface = throwing_iface();

// Prefill with a logit bias (so the session has a constraint chain) and plant the sampler there.
static bool prefill_planted(rd_session * s) {
    const int32_t prompt[3] = {1, 20, 30};
    const int32_t tok = 40;
    const float bias = 0.5f;
    rd_sampler_params sp;
    rd_sampler_default_params(&sp);
    sp.logit_bias_tokens = &tok;
    sp.logit_bias_values = &bias;
    sp.n_logit_bias = 1;
    g_throw = nullptr;
    if (!CHECK_OK(rd_session_prefill(s, prompt, 3, &sp)) || !CHECK(s->smp.constrain != nullptr, "constraint chain"))
        return false;
    llama_sampler_chain_add(s->smp.constrain, llama_sampler_init(&g_iface, nullptr));
    return true;
}

int main() {
    rd_model * m = rd_test_open_model();
    if (!m) return rd_test_done();
    rd_session_params p;
    rd_session_default_params(&p);
    p.n_ctx = 256;
    p.n_threads = 1;
    p.flash_attn = 0;
    p.beam_width = 4; // injected beams below are 2 x 2
    p.beam_length = 4;
    rd_session * s = nullptr;
    if (!CHECK_OK(rd_session_init(m, nullptr, &p, &s))) return rd_test_done();
    int32_t out[8];
    rd_step_result r;

    // the first token, sampled from the prompt's logits
    if (prefill_planted(s)) {
        g_throw = "thrown inside llama_sampler_apply";
        CHECK_EQ_INT(rd_session_step(s, false, 4, out, nullptr, &r), RD_ERR_INTERNAL);
        CHECK(strstr(rd_last_error(), "rd_session_step") && strstr(rd_last_error(), "thrown inside"),
              "the message names the call and the exception: %s", rd_last_error());
        CHECK_EQ_INT(rd_session_step(s, false, 4, out, nullptr, &r), RD_ERR_STATE);
    }
    // the acceptance walk over injected beams
    if (prefill_planted(s) && CHECK_OK(rd_session_step(s, false, 1, out, nullptr, &r))) {
        g_throw = "bad_alloc";
        const int32_t beams[4] = {50, 51, 60, 61};
        CHECK_EQ_INT(rd_session_step_beams(s, beams, 2, 2, 8, out, nullptr, &r), RD_ERR_NO_MEMORY);
        CHECK(strstr(rd_last_error(), "rd_session_step_beams") != nullptr, "message: %s", rd_last_error());
        CHECK_EQ_INT(rd_session_step(s, true, 4, out, nullptr, &r), RD_ERR_STATE);
    }
    // a new prefill builds a new chain: the session works again
    const int32_t prompt[3] = {1, 20, 30};
    rd_sampler_params sp;
    rd_sampler_default_params(&sp);
    if (CHECK_OK(rd_session_prefill(s, prompt, 3, &sp))) {
        CHECK_OK(rd_session_step(s, false, 4, out, nullptr, &r));
        CHECK_OK(rd_session_step(s, true, 4, out, nullptr, &r));
        CHECK(r.n_tokens >= 1, "tokens after the reset");
    }
    rd_session_free(s);
    rd_model_free(m);
    return rd_test_done();
}
