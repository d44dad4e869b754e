/* test_verify.c - the verifier on its own: beams are injected (rd_session_step_beams) instead of
 * drafted, so tree shape, acceptance length and KV compaction are checked against plain decoding
 * with exact expectations; and the LM head on demand against llama.cpp's. Greedy, f32 KV,
 * flash attention off. */
#include "harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define B 4
#define L 4
#define N_REF 800

static rd_session * new_session_head(rd_model * m, bool lazy_head) {
    rd_session_params p;
    rd_session_default_params(&p);
    p.n_ctx = 1024;
    p.beam_width = B;
    p.beam_length = L;
    p.flash_attn = 0;
    p.kv_f32 = true;
    p.n_threads = 1; /* tests share a loaded 2-core machine: spinning threads would starve */
    p.lazy_head = lazy_head;
    rd_session * s = NULL;
    CHECK(rd_session_init(m, NULL, &p, &s) == RD_OK, "session init: %s", rd_last_error());
    return s;
}

static rd_session * new_session(rd_model * m) { return new_session_head(m, true); }

static int32_t prompt[64];
static int32_t n_prompt;
static int32_t ref[N_REF];

#define N_PROBS 4

static void start(rd_session * s) {
    rd_sampler_params sp;
    rd_sampler_default_params(&sp);
    sp.ignore_eos = true; /* long runs need the whole budget */
    sp.n_probs = N_PROBS;
    CHECK(rd_session_prefill(s, prompt, n_prompt, &sp) == RD_OK, "prefill: %s", rd_last_error());
}

/* plain decoding reference: N_REF tokens */
static void reference(rd_model * m) {
    rd_session * s = new_session(m);
    start(s);
    int32_t n = 0;
    while (n < N_REF) {
        rd_step_result r;
        CHECK(rd_session_step(s, false, N_REF - n, ref + n, NULL, &r) == RD_OK, "ar step: %s", rd_last_error());
        CHECK_EQ_INT(r.n_tokens, 1);
        n += r.n_tokens;
    }
    rd_session_free(s);
}

/* a token guaranteed to differ from t */
static int32_t other(rd_model * m, int32_t t, int32_t salt) {
    int32_t v = rd_model_n_vocab(m);
    int32_t o = (t + 1 + salt % (v - 1)) % v;
    return o == t ? (o + 1) % v : o;
}

/* beam b: the true continuation after n emitted tokens, wrong from depth cut[b] on (cut = L: all right) */
static void make_beams(rd_model * m, int32_t n, const int32_t * cut, int32_t * beams) {
    for (int32_t b = 0; b < B; b++)
        for (int32_t k = 0; k < L; k++) {
            int32_t truth = n + k < N_REF ? ref[n + k] : 0;
            beams[b * L + k] = k < cut[b] ? truth : other(m, truth, 7 * b + k + n);
        }
}

static void test_shapes(rd_model * m) {
    rd_session * s = new_session(m);
    start(s);
    int32_t out[L + 1], beams[B * L];
    rd_step_result r;
    CHECK(rd_session_step(s, false, 1, out, NULL, &r) == RD_OK, "first step");
    CHECK_EQ_INT(out[0], ref[0]);
    int32_t n = 1;

    /* true continuation in beam 2 only: every draft token accepted, tau = L + 1 */
    int32_t cut_true[B] = {0, 1, L, 2};
    make_beams(m, n, cut_true, beams);
    CHECK(rd_session_step_beams(s, beams, B, L, 100, out, NULL, &r) == RD_OK, "step: %s", rd_last_error());
    CHECK_EQ_INT(r.n_accepted, L);
    CHECK_EQ_INT(r.n_tokens, L + 1);
    CHECK(memcmp(out, ref + n, sizeof(int32_t) * (L + 1)) == 0, "accepted tokens equal plain decoding");
    n += r.n_tokens;

    /* all-wrong beams: tau = 1 */
    int32_t cut_none[B] = {0, 0, 0, 0};
    make_beams(m, n, cut_none, beams);
    CHECK(rd_session_step_beams(s, beams, B, L, 100, out, NULL, &r) == RD_OK, "step");
    CHECK_EQ_INT(r.n_accepted, 0);
    CHECK_EQ_INT(r.n_tokens, 1);
    CHECK_EQ_INT(out[0], ref[n]);
    n += 1;

    /* identical beams: one chain of L + 1 nodes */
    for (int32_t b = 0; b < B; b++)
        for (int32_t k = 0; k < L; k++) beams[b * L + k] = other(m, ref[n + k], k);
    CHECK(rd_session_step_beams(s, beams, B, L, 100, out, NULL, &r) == RD_OK, "step");
    CHECK_EQ_INT(r.n_tree, L + 1);
    n += r.n_tokens;

    /* fully disjoint beams (distinct first tokens): 1 + B*L nodes */
    for (int32_t b = 0; b < B; b++)
        for (int32_t k = 0; k < L; k++) beams[b * L + k] = (k == 0) ? (100 + b) % rd_model_n_vocab(m) : 5;
    CHECK(rd_session_step_beams(s, beams, B, L, 100, out, NULL, &r) == RD_OK, "step");
    CHECK_EQ_INT(r.n_tree, 1 + B * L);
    n += r.n_tokens;
    CHECK_EQ_INT(rd_session_n_past(s), n_prompt + n - 1);
    rd_session_free(s);
}

/* hundreds of steps with beams corrupted at random depths: output equals plain decoding, the
 * accepted count is exactly what the corruption allows, and the cache holds prompt + output. */
static void test_corrupted(rd_model * m) {
    rd_session * s = new_session(m);
    start(s);
    int32_t out[L + 1], beams[B * L], cut[B];
    rd_step_result r;
    CHECK(rd_session_step(s, false, 1, out, NULL, &r) == RD_OK, "first step");
    int32_t n = 1, steps = 0;
    uint32_t rng = 12345;
    while (n < N_REF - L - 1) {
        int32_t best = 0;
        for (int32_t b = 0; b < B; b++) {
            rng = rng * 1664525u + 1013904223u;
            cut[b] = (int32_t) ((rng >> 16) % (L + 1));
            if (cut[b] > best) best = cut[b];
        }
        make_beams(m, n, cut, beams);
        if (rd_session_step_beams(s, beams, B, L, 1000, out, NULL, &r) != RD_OK) {
            CHECK(0, "step %d: %s", steps, rd_last_error());
            break;
        }
        CHECK_EQ_INT(r.n_accepted, best);
        CHECK(memcmp(out, ref + n, sizeof(int32_t) * r.n_tokens) == 0, "step %d output equals plain decoding", steps);
        n += r.n_tokens;
        steps++;
    }
    CHECK(steps >= 150, "ran %d steps", steps);
    /* g (the last emitted token) is not in the cache yet */
    CHECK_EQ_INT(rd_session_n_past(s), n_prompt + n - 1);
    CHECK_EQ_INT(rd_session_kv_cells(s), n_prompt + n - 1);
    rd_session_free(s);
}

/* The LM head on demand against llama.cpp's own head, on the same injected trees (beams right
 * up to a random depth against model m's own greedy text): the same tokens and log-probs within
 * 1e-4, while the head runs for fewer nodes than the tree has. On the F32 model the session runs
 * llama.cpp's op one column at a time (its N-column head differs from its one-column head in the
 * last bits); on the Q8_0-output model its own kernel (head_kernel.h), whose logits equal
 * llama.cpp's to float rounding and keep their bits at every width, so it runs waves of several
 * columns when the costs it measures say so. */
static void test_lazy_head(rd_model * m, bool waves) {
    static int32_t truth[N_REF];
    {
        rd_session * s = new_session(m);
        start(s);
        rd_step_result r;
        for (int32_t n = 0; n < 400; n += r.n_tokens)
            if (rd_session_step(s, false, 1, truth + n, NULL, &r) != RD_OK) { CHECK(0, "plain: %s", rd_last_error()); break; }
        rd_session_free(s);
    }
    rd_session * on = new_session_head(m, true), * off = new_session_head(m, false);
    start(on);
    start(off);
    enum { STRIDE = 1 + 2 * N_PROBS };
    int32_t out_on[L + 1], out_off[L + 1], beams[B * L], cut[B];
    float lp_on[(L + 1) * STRIDE], lp_off[(L + 1) * STRIDE];
    rd_step_result r_on, r_off;
    CHECK(rd_session_step(on, false, 1, out_on, NULL, &r_on) == RD_OK, "first step");
    CHECK(rd_session_step(off, false, 1, out_off, NULL, &r_off) == RD_OK, "first step");
    int32_t n = 1, steps = 0, heads = 0, nodes = 0, beyond = 0;
    float diff = 0.0f;
    uint32_t rng = 777;
    while (n < 300) {
        for (int32_t b = 0; b < B; b++) {
            rng = rng * 1664525u + 1013904223u;
            cut[b] = (int32_t) ((rng >> 16) % (L + 1));
            for (int32_t k = 0; k < L; k++)
                beams[b * L + k] = k < cut[b] ? truth[n + k] : other(m, truth[n + k], 7 * b + k + n);
        }
        if (rd_session_step_beams(on, beams, B, L, 1000, out_on, lp_on, &r_on) != RD_OK ||
            rd_session_step_beams(off, beams, B, L, 1000, out_off, lp_off, &r_off) != RD_OK) {
            CHECK(0, "step %d: %s", steps, rd_last_error());
            break;
        }
        CHECK_EQ_INT(r_on.n_tokens, r_off.n_tokens);
        CHECK(memcmp(out_on, out_off, sizeof(int32_t) * r_on.n_tokens) == 0, "step %d: same tokens", steps);
        CHECK(memcmp(out_on, truth + n, sizeof(int32_t) * r_on.n_tokens) == 0, "step %d: plain decoding's tokens", steps);
        for (int32_t i = 0; i < STRIDE * r_on.n_tokens; i++)
            if (fabsf(lp_on[i] - lp_off[i]) > diff) diff = fabsf(lp_on[i] - lp_off[i]);
        CHECK(diff < 1e-4f, "step %d: log-probs differ by %g", steps, diff);
        CHECK(r_on.n_head >= r_on.n_tokens && r_on.n_head <= r_on.n_tree, "step %d: head ran for %d of %d nodes",
              steps, r_on.n_head, r_on.n_tree);
        CHECK_EQ_INT(r_off.n_head, r_off.n_tree);
        heads += r_on.n_head;
        nodes += r_on.n_tree;
        beyond += r_on.n_head > r_on.n_tokens; /* a wave ran nodes the walk did not reach */
        n += r_on.n_tokens;
        steps++;
    }
    /* waves run nodes ahead of the walk: fewer than all, not fewer than half */
    CHECK(heads * (waves ? 1 : 2) < nodes, "the head ran for %d of %d tree nodes", heads, nodes);
    /* how wide the waves run depends on the costs the session measures (timings): several
     * columns may run ahead of the walk only where every width keeps the bits */
    if (!waves) CHECK_EQ_INT(beyond, 0);
    printf("LM head on demand (%s): max |log-prob difference| against llama.cpp's head %g; %d steps ran "
           "columns beyond the walk\n", waves ? "Q8_0 kernel" : "llama.cpp's op", diff, beyond);
    rd_session_free(on);
    rd_session_free(off);
}

/* The session's own head through the public hook: on the Q8_0-output model a hidden state's
 * logits keep their bits whatever column of how wide a call it sits in; a session on llama.cpp's
 * head refuses the hook. */
static void test_head_hook(rd_model * m) {
    rd_session * on = new_session_head(m, true), * off = new_session_head(m, false);
    start(on);
    const int32_t d = rd_model_n_embd(m), V = rd_model_n_vocab(m);
    float * x = malloc(sizeof(float) * (size_t) d * RD_MAX_HEAD_COLS);
    float * one = malloc(sizeof(float) * (size_t) V), * all = malloc(sizeof(float) * (size_t) V * RD_MAX_HEAD_COLS);
    const float * h = rd_session_hidden(on);
    for (int32_t k = 0; k < RD_MAX_HEAD_COLS; k++)
        for (int32_t j = 0; j < d; j++) x[k * d + j] = h[j] * (float) (k + 1) + 0.01f * (float) ((j * 7 + k) % 13);
    int32_t bad = 0;
    for (int32_t k = 1; k <= RD_MAX_HEAD_COLS; k++) {
        CHECK_OK(rd_session_head_logits(on, x, k, all));
        CHECK_OK(rd_session_head_logits(on, x + (size_t) (k - 1) * d, 1, one));
        bad += memcmp(one, all + (size_t) (k - 1) * V, sizeof(float) * (size_t) V) != 0;
    }
    CHECK(bad == 0, "%d of %d hidden states changed bits with the width of the head call", bad, RD_MAX_HEAD_COLS);
    CHECK_EQ_INT(rd_session_head_logits(off, x, 1, one), RD_ERR_STATE);
    CHECK_EQ_INT(rd_session_head_logits(on, x, RD_MAX_HEAD_COLS + 1, all), RD_ERR_INVALID_ARG);
    free(x);
    free(one);
    free(all);
    rd_session_free(on);
    rd_session_free(off);
}

/* KV bookkeeping over 500 steps with partial acceptance and mixed plain steps. */
static void test_kv_500(rd_model * m) {
    rd_session * s = new_session(m);
    start(s);
    int32_t out[L + 1], beams[B * L], cut[B] = {1, 0, 0, 0};
    rd_step_result r;
    CHECK(rd_session_step(s, false, 1, out, NULL, &r) == RD_OK, "first step");
    int32_t n = 1;
    for (int32_t step = 0; step < 500; step++) {
        cut[0] = step % 3 == 0 ? 0 : 1; /* 0 or 1 accepted: at most 2 tokens a step */
        make_beams(m, n, cut, beams);
        if (step % 5 == 4) CHECK(rd_session_step(s, false, 1000, out, NULL, &r) == RD_OK, "plain step");
        else CHECK(rd_session_step_beams(s, beams, B, L, 1000, out, NULL, &r) == RD_OK, "step %d: %s", step, rd_last_error());
        CHECK(memcmp(out, ref + n, sizeof(int32_t) * r.n_tokens) == 0, "kv step %d output", step);
        n += r.n_tokens;
        if (n > N_REF - L - 2) break;
    }
    CHECK_EQ_INT(rd_session_kv_cells(s), n_prompt + n - 1);
    CHECK_EQ_INT(rd_session_n_past(s), n_prompt + n - 1);
    rd_session_free(s);
}

int main(void) {
    rd_model * m = rd_test_open_model();
    if (!m) return 1;
    const char * text = "The quick brown fox jumps over the lazy dog. Once upon a time";
    n_prompt = rd_model_tokenize(m, text, (int32_t) strlen(text), true, false, prompt, 64);
    CHECK(n_prompt > 0, "tokenize");
    reference(m);
    test_shapes(m);
    test_corrupted(m);
    test_kv_500(m);
    test_lazy_head(m, false);
    rd_model_free(m);
    rd_model * q8 = rd_test_open_model_q8();
    if (q8) {
        test_lazy_head(q8, true);
        test_head_hook(q8);
        rd_model_free(q8);
    }
    return rd_test_done();
}
