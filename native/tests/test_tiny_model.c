/* test_tiny_model.c - the fixture every other test builds on, checked through llama.cpp itself
 * (not through libredrafter): the GGUF from make-tiny-model loads, its SentencePiece vocab
 * tokenizes the test prompts into words rather than bytes and back to the same text, the
 * chat markers are control tokens, and greedy generation depends on the prompt without
 * collapsing onto one token (a degenerate target would make speculative tests pass vacuously)
 * nor stopping early (no control token, EOS included, is ever the greedy choice). */
#include "harness.h"
#include "llama.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_GEN     24  /* greedy tokens per prompt */
#define N_PROMPTS 12  /* prompts generated from */

static void quiet_log(enum ggml_log_level level, const char * text, void * user) {
    (void) user;
    if (level == GGML_LOG_LEVEL_ERROR) fputs(text, stderr);
}

static void test_vocab(const struct llama_model * model) {
    const struct llama_vocab * v = llama_model_get_vocab(model);
    CHECK_EQ_INT(llama_vocab_n_tokens(v), 512);
    CHECK_EQ_INT(llama_model_n_embd(model), 64);
    CHECK_EQ_INT(llama_model_n_layer(model), 2);
    CHECK_EQ_INT(llama_model_n_head(model), 4);
    CHECK_EQ_INT(llama_model_n_head_kv(model), 2);
    CHECK_EQ_INT(llama_model_n_ctx_train(model), 2048);
    CHECK_EQ_INT(llama_vocab_bos(v), 1);
    CHECK_EQ_INT(llama_vocab_eos(v), 2);
    CHECK(llama_vocab_get_add_bos(v), "add_bos");
    CHECK(strcmp(llama_vocab_get_text(v, 3 + '\n'), "<0x0A>") == 0, "byte tokens at 3..258");

    const llama_token eot = llama_vocab_eot(v);
    CHECK(eot >= 0 && strcmp(llama_vocab_get_text(v, eot), "<|end|>") == 0, "<|end|> ends a turn");
    CHECK(llama_vocab_is_eog(v, eot) && llama_vocab_is_eog(v, 2), "</s> and <|end|> stop");

    llama_token t[8];
    static const char marker[] = "<|user|>";
    CHECK_EQ_INT(llama_tokenize(v, marker, (int32_t) strlen(marker), t, 8, false, true), 1);
    CHECK(llama_tokenize(v, marker, (int32_t) strlen(marker), t, 8, false, false) > 1,
          "without parse_special the marker is plain text");
}

static void test_chat_template(const struct llama_model * model) {
    const char * tmpl = llama_model_chat_template(model, NULL);
    if (!CHECK(tmpl != NULL, "tokenizer.chat_template is set")) return;
    const struct llama_chat_message chat[] = {
        { "system", "Be brief." }, { "user", "Hi there" },
    };
    static const char want[] = "<|system|>\nBe brief.<|end|>\n<|user|>\nHi there<|end|>\n<|assistant|>\n";
    char buf[256];
    const int32_t n = llama_chat_apply_template(tmpl, chat, 2, true, buf, sizeof buf);
    CHECK(n == (int32_t) strlen(want) && memcmp(buf, want, strlen(want)) == 0,
          "llama.cpp renders the template as Phi-3 turns: got %d bytes \"%.*s\"",
          n, n > 0 && n < (int32_t) sizeof buf ? n : 0, buf);
}

/* Real prompts become mostly word tokens and detokenize to the same bytes. */
static void test_tokenize(const struct llama_model * model, char ** prompts, int n_prompts) {
    const struct llama_vocab * v = llama_model_get_vocab(model);
    long n_bytes = 0, n_tokens = 0, n_fallback = 0;
    int  round_trips = 0;
    for (int i = 0; i < n_prompts; i++) {
        const int32_t len = (int32_t) strlen(prompts[i]);
        llama_token * tok = malloc(sizeof *tok * (size_t) (len + 2));
        char *        back = malloc((size_t) len + 16);
        const int32_t n = llama_tokenize(v, prompts[i], len, tok, len + 2, false, false);
        if (!CHECK(n > 0 && tok && back, "prompt %d tokenizes", i)) { free(tok); free(back); continue; }
        for (int32_t k = 0; k < n; k++) n_fallback += llama_vocab_get_attr(v, tok[k]) & LLAMA_TOKEN_ATTR_BYTE ? 1 : 0;
        n_bytes += len;
        n_tokens += n;
        const int32_t nb = llama_detokenize(v, tok, n, back, len + 16, false, false);
        round_trips += nb == len && memcmp(back, prompts[i], (size_t) len) == 0;
        free(tok);
        free(back);
    }
    const double bytes_per_token = (double) n_bytes / (double) n_tokens;
    const double fallback = (double) n_fallback / (double) n_tokens;
    printf("tokenize: %d prompts, %.2f bytes/token, %.1f%% byte-fallback tokens, %d round trips\n",
           n_prompts, bytes_per_token, 100.0 * fallback, round_trips);
    /* 1.0 would be characters; the 154 merges of --vocab 512 give 1.8 */
    CHECK(bytes_per_token >= 1.7, "subwords, not characters: %.2f bytes/token", bytes_per_token);
    CHECK(fallback <= 0.05, "few byte-fallback tokens: %.1f%%", 100.0 * fallback);
    CHECK_EQ_INT(round_trips, n_prompts);
}

/* Greedy continuations: different prompts give different text, and none is one token repeated. */
static void test_generate(struct llama_model * model, char ** prompts, int n_prompts) {
    const struct llama_vocab * v = llama_model_get_vocab(model);
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = 1024;
    cp.n_batch = 1024;
    cp.n_threads = cp.n_threads_batch = 1; /* 2 threads spin-wait badly on a busy 2-core machine */
    cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
    struct llama_context * ctx = llama_init_from_model(model, cp);
    if (!CHECK(ctx != NULL, "context")) return;

    llama_token gen[N_PROMPTS][N_GEN];
    const int n = n_prompts < N_PROMPTS ? n_prompts : N_PROMPTS;
    int min_distinct = N_GEN, n_control = 0;
    for (int i = 0; i < n; i++) {
        llama_token tok[1024];
        int32_t nt = llama_tokenize(v, prompts[i], (int32_t) strlen(prompts[i]), tok, 1024 - N_GEN, true, false);
        if (!CHECK(nt > 0, "prompt %d fits", i)) continue;
        llama_memory_clear(llama_get_memory(ctx), true);
        struct llama_batch b = llama_batch_get_one(tok, nt);
        for (int k = 0; k < N_GEN; k++) {
            if (!CHECK(llama_decode(ctx, b) == 0, "decode prompt %d step %d", i, k)) break;
            const float * logits = llama_get_logits_ith(ctx, -1);
            llama_token best = 0;
            for (llama_token t = 1; t < llama_vocab_n_tokens(v); t++) {
                if (logits[t] > logits[best]) best = t;
            }
            gen[i][k] = best;
            b = llama_batch_get_one(&gen[i][k], 1);
        }
        int distinct = 0;
        for (int k = 0; k < N_GEN; k++) {
            n_control += (llama_vocab_get_attr(v, gen[i][k]) & LLAMA_TOKEN_ATTR_CONTROL) != 0;
            int seen = 0;
            for (int j = 0; j < k; j++) seen |= gen[i][j] == gen[i][k];
            distinct += !seen;
        }
        if (distinct < min_distinct) min_distinct = distinct;
        char text[512];
        const int32_t nb = llama_detokenize(v, gen[i], N_GEN, text, sizeof text - 1, false, true);
        printf("greedy %2d (%2d distinct): %.*s\n", i, distinct, nb > 0 ? nb : 0, text);
    }
    int unique = 0;
    for (int i = 0; i < n; i++) {
        int dup = 0;
        for (int j = 0; j < i; j++) dup |= memcmp(gen[i], gen[j], sizeof gen[i]) == 0;
        unique += !dup;
    }
    CHECK(unique >= n - 1, "greedy text depends on the prompt: %d of %d continuations unique", unique, n);
    CHECK(min_distinct >= 4, "no continuation collapses onto a token: min %d distinct of %d", min_distinct, N_GEN);
    CHECK_EQ_INT(n_control, 0);
    llama_free(ctx);
}

int main(void) {
    const char * path = getenv("RD_TEST_MODEL");
    if (!CHECK(path != NULL, "RD_TEST_MODEL is set")) return rd_test_done();
    llama_log_set(quiet_log, NULL);
    ggml_backend_load_all_from_path(getenv("RD_LIB_DIR"));

    struct llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = 0;
    struct llama_model * model = llama_model_load_from_file(path, mp);
    if (!CHECK(model != NULL, "llama.cpp loads %s", path)) return rd_test_done();

    char ** prompts = NULL;
    const int n_prompts = rd_test_read_prompts(0, &prompts);
    test_vocab(model);
    test_chat_template(model);
    if (n_prompts > 0) {
        test_tokenize(model, prompts, n_prompts);
        test_generate(model, prompts, n_prompts);
    }
    rd_test_free_prompts(prompts, n_prompts > 0 ? n_prompts : 0);
    llama_model_free(model);
    return rd_test_done();
}
