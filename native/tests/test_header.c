/* test_header.c - the public header is plain C (this file builds with -std=c11 -pedantic-errors)
 * and keeps its documented promises that need no model: default params, free(NULL), and the
 * load errors for a missing file and for a file that is not a GGUF. */
#include "redrafter.h"
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Defaults must fill every field: start from garbage, not from zeros. */
#define GARBAGE(p) memset(&(p), 0xA5, sizeof(p))

static void test_defaults(void) {
    rd_model_params mp;
    GARBAGE(mp);
    rd_model_default_params(&mp);
    CHECK_EQ_INT(mp.n_gpu_layers, -1);
    CHECK(mp.device == NULL, "device defaults to llama.cpp's choice");
    CHECK(mp.use_mmap, "use_mmap defaults to true");

    rd_drafter_init_params dp;
    GARBAGE(dp);
    rd_drafter_init_default_params(&dp);
    CHECK_EQ_INT(dp.n_draft_vocab, 0);
    CHECK_EQ_INT(dp.n_layers, 1);
    CHECK_EQ_INT(dp.n_proj, 0);
    CHECK_EQ_INT(dp.weight_type, RD_WEIGHTS_F32);
    CHECK_EQ_INT(dp.seed, 42);
    CHECK_NEAR(dp.init_scale, 1.0, 0.0);
    CHECK(dp.vocab_ids == NULL, "no draft vocab map by default");

    rd_session_params sp;
    GARBAGE(sp);
    rd_session_default_params(&sp);
    CHECK_EQ_INT(sp.n_ctx, 0);
    CHECK_EQ_INT(sp.n_batch, 512);
    CHECK_EQ_INT(sp.n_threads, 0);
    CHECK_EQ_INT(sp.beam_width, 1);
    CHECK_EQ_INT(sp.beam_length, 4);
    CHECK_EQ_INT(sp.flash_attn, -1);
    CHECK(!sp.kv_f32, "f16 KV cache by default");
    CHECK(sp.adaptive, "adaptive draft length by default");
    CHECK_EQ_INT(sp.lookup, 16);
    CHECK(sp.beam_width <= RD_MAX_BEAMS && sp.beam_length <= RD_MAX_BEAM_LENGTH,
          "defaults within the documented bounds");

    rd_sampler_params sa;
    GARBAGE(sa);
    rd_sampler_default_params(&sa);
    CHECK_NEAR(sa.temperature, 0.0, 0.0);
    CHECK_EQ_INT(sa.top_k, 0);
    CHECK_NEAR(sa.top_p, 1.0, 0.0);
    CHECK_NEAR(sa.min_p, 0.0, 0.0);
    CHECK_EQ_INT(sa.seed, 0xFFFFFFFFu);
    CHECK_NEAR(sa.repeat_penalty, 1.0, 0.0);
    CHECK_EQ_INT(sa.penalty_last_n, 64);
    CHECK_NEAR(sa.presence_penalty, 0.0, 0.0);
    CHECK_NEAR(sa.frequency_penalty, 0.0, 0.0);
    CHECK(sa.logit_bias_tokens == NULL && sa.logit_bias_values == NULL, "no logit bias");
    CHECK_EQ_INT(sa.n_logit_bias, 0);
    CHECK(sa.grammar == NULL && sa.grammar_root == NULL, "no grammar");
    CHECK(!sa.ignore_eos, "stops on EOS by default");
    CHECK_EQ_INT(sa.n_probs, 0);
}

static void test_free_null(void) {
    rd_model_free(NULL);
    rd_drafter_free(NULL);
    rd_session_free(NULL);
    CHECK(true, "free(NULL) returned");
}

static void test_load_errors(void) {
    const char * v = rd_version();
    CHECK(v != NULL && v[0] != '\0', "rd_version() is a non-empty string");
    CHECK(rd_last_error() != NULL, "rd_last_error() is never NULL");

    rd_log_set_quiet(true);
    CHECK_OK(rd_backend_init(getenv("RD_LIB_DIR")));
    rd_model_params p;
    rd_model_default_params(&p);

    const char * missing = "no-such-dir/no-such-model.gguf";
    rd_model * m = NULL;
    CHECK_EQ_INT(rd_model_load(missing, &p, &m), RD_ERR_IO);
    CHECK(m == NULL, "no model on failure");
    CHECK(strstr(rd_last_error(), missing) != NULL,
          "the message names the path: \"%s\"", rd_last_error());

    /* A text file, and one that starts like a GGUF but is cut short after the header. */
    static const char text[] = "this is not a model\n";
    static const unsigned char cut[] = { 'G', 'G', 'U', 'F', 3, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0 };
    const struct { const char * path; const void * data; size_t n; } bad[] = {
        { "test_header_not_gguf.txt", text, sizeof text - 1 },
        { "test_header_cut.gguf",     cut,  sizeof cut },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        FILE * f = fopen(bad[i].path, "wb");
        if (!CHECK(f != NULL, "cannot write %s in the working directory", bad[i].path)) continue;
        fwrite(bad[i].data, 1, bad[i].n, f);
        fclose(f);
        m = NULL;
        CHECK_EQ_INT(rd_model_load(bad[i].path, &p, &m), RD_ERR_FORMAT);
        CHECK(m == NULL, "no model for %s", bad[i].path);
        CHECK(strstr(rd_last_error(), bad[i].path) != NULL,
              "the message names the path: \"%s\"", rd_last_error());
        remove(bad[i].path);
    }

    CHECK(rd_model_load(NULL, &p, &m) != RD_OK, "a NULL path is refused, not a crash");
}

int main(void) {
    test_defaults();
    test_free_null();
    test_load_errors();
    return rd_test_done();
}
