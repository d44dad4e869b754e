/* test_errors.c - bad input gets a status and a message, never a crash or a hang: beam shape out
 * of range (at init and in injected beams), prompts that do not fit, a context that fills up during generation, invalid sampler
 * values, a grammar that does not parse or is too large or too deep, calls in the wrong state,
 * cancellation (silent when logging is quiet); and a step that no token may follow (a complete
 * grammar with end-of-generation banned, every token banned) ends the generation cleanly. */
#define _POSIX_C_SOURCE 200809L
#include "harness.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* Injected beams wider or longer than the session's beam shape are refused before anything is
 * written: the batch holds only the session's own tree (1 + B*L + lookup nodes, n_batch 1 here),
 * so 1 x RD_MAX_BEAM_LENGTH in a 1 x 1 session, or one beam more than the width in the copy
 * beam's sequence, used to write past it. The session steps on afterwards. */
static void test_injected_shapes(rd_model * m) {
    rd_session_params p = params(128, 1, 1);
    p.n_batch = 1;
    p.lookup = 1;
    rd_session * s = NULL;
    if (!CHECK_OK(rd_session_init(m, NULL, &p, &s))) return;
    const int32_t prompt[3] = {1, 20, 30};
    rd_sampler_params sp;
    rd_sampler_default_params(&sp);
    sp.ignore_eos = true;
    int32_t beams[2 * RD_MAX_BEAM_LENGTH], out[RD_MAX_BEAM_LENGTH + 1];
    for (int i = 0; i < 2 * RD_MAX_BEAM_LENGTH; i++) beams[i] = 40 + i;
    rd_step_result r;
    if (CHECK_OK(rd_session_prefill(s, prompt, 3, &sp)) && CHECK_OK(rd_session_step(s, false, 1, out, NULL, &r))) {
        const int32_t n_past = rd_session_n_past(s);
        CHECK_EQ_INT(rd_session_step_beams(s, beams, 1, RD_MAX_BEAM_LENGTH, 32, out, NULL, &r), RD_ERR_INVALID_ARG);
        CHECK(strstr(rd_last_error(), "1 x 16") != NULL, "message: %s", rd_last_error());
        CHECK_EQ_INT(rd_session_step_beams(s, beams, 2, 1, 32, out, NULL, &r), RD_ERR_INVALID_ARG);
        CHECK_EQ_INT(rd_session_n_past(s), n_past);
        CHECK_OK(rd_session_step_beams(s, beams, 1, 1, 32, out, NULL, &r));
        CHECK(r.n_tokens >= 1 && rd_session_n_past(s) > n_past, "a fitting beam steps on: %d tokens", r.n_tokens);
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

/* Plain steps until the generation finishes (at most cap tokens); the tokens go to out. */
static int generate(rd_session * s, int32_t * out, int cap, int * finish) {
    int n = 0;
    *finish = RD_FINISH_NONE;
    for (int steps = 0; *finish == RD_FINISH_NONE && n < cap && steps < 64; steps++) {
        rd_step_result r;
        if (!CHECK_OK(rd_session_step(s, false, cap - n, out + n, NULL, &r))) break;
        n += r.n_tokens;
        *finish = r.finish;
    }
    return n;
}

static void detokenize(rd_model * m, const int32_t * toks, int n, char * text, int cap) {
    int len = 0;
    for (int i = 0; i < n; i++) {
        const int32_t k = rd_model_token_to_piece(m, toks[i], false, text + len, cap - 1 - len);
        if (k > 0) len += k;
    }
    text[len] = '\0';
}

/* A JSON-schema-like grammar that is complete after its "}" while ignore_eos bans every
 * end-of-generation token: llama.cpp's grammar sampler then throws on accepting any token (it
 * used to escape and abort the process). The step finds no token allowed and finishes with
 * RD_FINISH_NO_TOKEN, in plain decoding and in the acceptance walk over a tree. */
static void test_grammar_complete(rd_model * m) {
    rd_session_params p = params(256, 1, 12);
    rd_session * s = NULL;
    if (!CHECK_OK(rd_session_init(m, NULL, &p, &s))) return;
    const int32_t prompt[4] = {1, 40, 50, 60};
    rd_sampler_params sp;
    int32_t toks[32];
    char text[256];
    int finish = RD_FINISH_NONE, n_greedy = 0;
    int32_t greedy[32];
    for (int sampled = 0; sampled < 2; sampled++) {
        rd_sampler_default_params(&sp);
        sp.grammar = "root ::= \"{\" space \"\\\"n\\\"\" space \":\" space [0-9] \"}\"\nspace ::= \" \"?";
        sp.ignore_eos = true;
        if (sampled) { sp.temperature = 0.8f; sp.seed = 7; }
        if (!CHECK_OK(rd_session_prefill(s, prompt, 4, &sp))) continue;
        const int n = generate(s, toks, 32, &finish);
        detokenize(m, toks, n, text, sizeof text);
        CHECK_EQ_INT(finish, RD_FINISH_NO_TOKEN);
        CHECK(text[0] == '{' && strstr(text, "\"n\"") && n > 0 && text[strlen(text) - 1] == '}',
              "%s: the grammar's object, then the end: '%s'", sampled ? "sampled" : "greedy", text);
        printf("grammar complete, end-of-generation banned, %s: '%s' (%d tokens), finish %d\n",
               sampled ? "sampled" : "greedy", text, n, finish);
        if (!sampled) { n_greedy = n; memcpy(greedy, toks, sizeof(int32_t) * (size_t) n); }
        /* finished: more steps emit nothing and say so again */
        rd_step_result r;
        CHECK_OK(rd_session_step(s, false, 4, toks, NULL, &r));
        CHECK(r.n_tokens == 0 && r.finish == RD_FINISH_NO_TOKEN, "after the end: %d tokens, finish %d", r.n_tokens, r.finish);
    }
    /* the walk: the greedy answer after its first token as one injected beam, one token past
     * the end added (a child below the node where nothing may follow) */
    rd_sampler_default_params(&sp);
    sp.grammar = "root ::= \"{\" space \"\\\"n\\\"\" space \":\" space [0-9] \"}\"\nspace ::= \" \"?";
    sp.ignore_eos = true;
    if (n_greedy >= 2 && n_greedy <= 12 && CHECK_OK(rd_session_prefill(s, prompt, 4, &sp))) {
        rd_step_result r;
        int32_t beam[12];
        memcpy(beam, greedy + 1, sizeof(int32_t) * (size_t) (n_greedy - 1));
        beam[n_greedy - 1] = greedy[0];
        CHECK_OK(rd_session_step(s, false, 1, toks, NULL, &r));
        if (CHECK_OK(rd_session_step_beams(s, beam, 1, n_greedy, 32, toks + 1, NULL, &r))) {
            CHECK_EQ_INT(r.finish, RD_FINISH_NO_TOKEN);
            CHECK_EQ_INT(r.n_tokens, n_greedy - 1);
            CHECK_EQ_INT(r.n_accepted, n_greedy - 1);
            CHECK(memcmp(toks, greedy, sizeof(int32_t) * (size_t) n_greedy) == 0, "the walk gives the plain answer");
        }
    } else {
        CHECK(false, "greedy answer of %d tokens does not fit the test's beam", n_greedy);
    }
    rd_session_free(s);
}

/* logit_bias -100 on every token (OpenAI's ban): nothing may be emitted, greedy or sampled. */
static void test_all_banned(rd_model * m) {
    rd_session_params p = params(128, 2, 2);
    rd_session * s = NULL;
    if (!CHECK_OK(rd_session_init(m, NULL, &p, &s))) return;
    const int32_t V = rd_model_n_vocab(m);
    int32_t * ids = malloc(sizeof(int32_t) * (size_t) V);
    float * bias = malloc(sizeof(float) * (size_t) V);
    for (int32_t i = 0; i < V; i++) { ids[i] = i; bias[i] = -100.0f; }
    const int32_t prompt[3] = {1, 20, 30};
    for (int sampled = 0; sampled < 2; sampled++) {
        rd_sampler_params sp;
        rd_sampler_default_params(&sp);
        sp.logit_bias_tokens = ids;
        sp.logit_bias_values = bias;
        sp.n_logit_bias = V;
        if (sampled) { sp.temperature = 1.0f; sp.seed = 3; }
        int32_t out[4];
        rd_step_result r;
        if (!CHECK_OK(rd_session_prefill(s, prompt, 3, &sp))) continue;
        if (CHECK_OK(rd_session_step(s, true, 4, out, NULL, &r)))
            CHECK(r.n_tokens == 0 && r.finish == RD_FINISH_NO_TOKEN, "%s: %d tokens (first %d), finish %d",
                  sampled ? "sampled" : "greedy", r.n_tokens, out[0], r.finish);
    }
    free(ids);
    free(bias);
    rd_session_free(s);
}

/* Grammars llama.cpp's recursive parser cannot take are refused before it parses them. */
static void test_grammar_limits(rd_model * m) {
    rd_session_params p = params(128, 2, 2);
    rd_session * s = NULL;
    if (!CHECK_OK(rd_session_init(m, NULL, &p, &s))) return;
    const int32_t prompt[3] = {1, 20, 30};
    rd_sampler_params sp;
    rd_sampler_default_params(&sp);
    const size_t cap = RD_MAX_GRAMMAR_BYTES + 64;
    char * g = malloc(cap);
    /* 9000 nested groups overflowed the stack inside llama.cpp */
    int len = sprintf(g, "root ::= ");
    for (int i = 0; i < 9000; i++) g[len++] = '(';
    len += sprintf(g + len, "\"a\"");
    for (int i = 0; i < 9000; i++) g[len++] = ')';
    g[len] = '\0';
    sp.grammar = g;
    CHECK_EQ_INT(rd_session_prefill(s, prompt, 3, &sp), RD_ERR_GRAMMAR);
    CHECK(strstr(rd_last_error(), "256") != NULL, "the message names the depth limit: %s", rd_last_error());
    /* RD_MAX_GRAMMAR_DEPTH levels parse; brackets in literals, classes and comments are text */
    len = sprintf(g, "root ::= ");
    for (int i = 0; i < RD_MAX_GRAMMAR_DEPTH; i++) g[len++] = '(';
    len += sprintf(g + len, "\"a\"");
    for (int i = 0; i < RD_MAX_GRAMMAR_DEPTH; i++) g[len++] = ')';
    len += sprintf(g + len, " | \"\\\"(((\" | [(\\]] | \"");
    for (int i = 0; i < 300; i++) g[len++] = '(';
    len += sprintf(g + len, "\" | [");
    for (int i = 0; i < 300; i++) g[len++] = '(';
    len += sprintf(g + len, "] # ");
    for (int i = 0; i < 300; i++) g[len++] = '(';
    g[len] = '\0';
    CHECK_OK(rd_session_prefill(s, prompt, 3, &sp));
    /* one group more is refused */
    len = sprintf(g, "root ::= ");
    for (int i = 0; i <= RD_MAX_GRAMMAR_DEPTH; i++) g[len++] = '(';
    len += sprintf(g + len, "\"a\"");
    for (int i = 0; i <= RD_MAX_GRAMMAR_DEPTH; i++) g[len++] = ')';
    g[len] = '\0';
    CHECK_EQ_INT(rd_session_prefill(s, prompt, 3, &sp), RD_ERR_GRAMMAR);
    /* a valid grammar longer than RD_MAX_GRAMMAR_BYTES */
    len = sprintf(g, "root ::= \"a\"");
    memset(g + len, ' ', RD_MAX_GRAMMAR_BYTES);
    g[len + RD_MAX_GRAMMAR_BYTES] = '\0';
    CHECK_EQ_INT(rd_session_prefill(s, prompt, 3, &sp), RD_ERR_GRAMMAR);
    CHECK(strstr(rd_last_error(), "1048576") != NULL, "the message names the size limit: %s", rd_last_error());
    /* a chain of rules, each naming the next: llama.cpp's left-recursion check follows it by
     * recursion (20,000 rules overflowed a 2 MB stack). RD_MAX_GRAMMAR_RULES parse, one more not */
    for (int n = RD_MAX_GRAMMAR_RULES; n <= RD_MAX_GRAMMAR_RULES + 1; n++) {
        len = sprintf(g, "root ::= r1\n");
        for (int i = 1; i < n - 1; i++) len += sprintf(g + len, "r%d ::= r%d\n", i, i + 1);
        len += sprintf(g + len, "r%d ::= \"a\"\n", n - 1);
        CHECK_EQ_INT(rd_session_prefill(s, prompt, 3, &sp), n > RD_MAX_GRAMMAR_RULES ? RD_ERR_GRAMMAR : RD_OK);
    }
    CHECK(strstr(rd_last_error(), "4096") != NULL, "the message names the rule limit: %s", rd_last_error());
    free(g);
    rd_session_free(s);
}

typedef struct canceller {
    rd_session * s;
    atomic_int   stop;
} canceller;

static void * cancel_loop(void * arg) {
    canceller * c = arg;
    while (!atomic_load(&c->stop)) rd_session_cancel(c->s);
    return NULL;
}

/* Run prefills while another thread cancels until one is cancelled inside llama_decode (the
 * prefill clears the flag first, so the cancel lands in a decode); *text gets what was written
 * to stderr meanwhile (malloc'd). */
static bool cancelled_prefill(rd_session * s, const int32_t * prompt, int32_t n, char ** text) {
    rd_sampler_params sp;
    rd_sampler_default_params(&sp);
    fflush(stderr);
    FILE * tmp = tmpfile();
    const int saved = dup(2);
    if (!CHECK(tmp && saved >= 0 && dup2(fileno(tmp), 2) >= 0, "stderr redirected")) return false;
    canceller c = {s, 0};
    pthread_t th;
    bool cancelled = false;
    if (pthread_create(&th, NULL, cancel_loop, &c) == 0) {
        for (int i = 0; i < 20 && !cancelled; i++) cancelled = rd_session_prefill(s, prompt, n, &sp) == RD_ERR_CANCELLED;
        atomic_store(&c.stop, 1);
        pthread_join(th, NULL);
    }
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    const long size = ftell(tmp);
    *text = calloc((size_t) size + 1, 1);
    rewind(tmp);
    if (size > 0 && fread(*text, 1, (size_t) size, tmp) != (size_t) size) (*text)[0] = '\0';
    fclose(tmp);
    return CHECK(cancelled, "no prefill was cancelled");
}

/* A decode stopped by rd_session_cancel(): llama.cpp logs "failed to decode" as an error, which
 * verbose logging shows and quiet logging (the server's default) must not. */
static void test_cancel_quiet(rd_model * m) {
    rd_session_params p = params(2048, 2, 2);
    p.n_batch = 64;
    rd_session * s = NULL;
    if (!CHECK_OK(rd_session_init(m, NULL, &p, &s))) return;
    int32_t prompt[1500];
    for (int i = 0; i < 1500; i++) prompt[i] = 10 + i % 300;
    char * text = NULL;
    rd_log_set_quiet(false);
    if (cancelled_prefill(s, prompt, 1500, &text))
        CHECK(strstr(text, "failed to decode") != NULL, "verbose: llama.cpp's error is shown: '%s'", text);
    free(text);
    text = NULL;
    rd_log_set_quiet(true);
    if (cancelled_prefill(s, prompt, 1500, &text)) CHECK(text[0] == '\0', "quiet: nothing on stderr, got '%s'", text);
    free(text);
    rd_session_free(s);
}

int main(void) {
    rd_model * m = rd_test_open_model();
    if (!m) return rd_test_done();
    test_beam_shapes(m);
    test_context(m);
    test_injected_shapes(m);
    test_sampler_values(m);
    test_grammar_complete(m);
    test_all_banned(m);
    test_grammar_limits(m);
    test_cancel_quiet(m);
    rd_model_free(m);
    return rd_test_done();
}
