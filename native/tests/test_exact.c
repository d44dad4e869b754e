/* test_exact.c - the first property: speculative generation with a (random) drafter and the
 * context copy (rd_session_params.lookup) equals plain decoding token for token, greedy and
 * seeded sampling, on the tiny model (f32 weights, f32 KV cache, flash attention off); so does
 * the context copy alone, without a drafter, the tiny model with its output layer in Q8_0
 * (the session's own head kernel) and with its layers' matrices in Q4_1 (the body kernel's ggml
 * backend, native/src/body_backend.cpp). 20 prompts x 128 tokens per mode. */
#define _POSIX_C_SOURCE 200809L
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define N_PROMPTS 20
#define N_GEN 128

static bool g_adaptive = false;
static int32_t g_spec_threads = 1; /* the speculative session's; plain decoding keeps 1 */

static rd_session * new_session(rd_model * m, rd_drafter * d, int32_t threads) {
    rd_session_params p;
    rd_session_default_params(&p);
    p.n_ctx = 1024;
    p.beam_width = 4;
    p.beam_length = 4;
    p.flash_attn = 0;
    p.kv_f32 = true;
    p.n_threads = threads; /* 1 unless a test says: the tests share a loaded 2-core machine */
    p.adaptive = g_adaptive; /* off: every step verifies a full tree */
    rd_session * s = NULL;
    CHECK_OK(rd_session_init(m, d, &p, &s));
    return s;
}

/* generate up to N_GEN tokens; returns the count (stops at EOS); *copied: accepted tokens only
 * the context copy proposed */
static int generate(rd_session * s, const int32_t * prompt, int n_prompt, const rd_sampler_params * sp,
                    bool draft, int32_t * out, int * calls, int * copied) {
    *calls = 0;
    *copied = 0;
    if (!CHECK_OK(rd_session_prefill(s, prompt, n_prompt, sp))) return 0;
    int n = 0;
    while (n < N_GEN) {
        rd_step_result r;
        if (!CHECK_OK(rd_session_step(s, draft, N_GEN - n, out + n, NULL, &r))) break;
        n += r.n_tokens;
        *calls += r.target_calls;
        *copied += r.n_copy_accepted;
        if (r.finish != RD_FINISH_NONE) break;
    }
    return n;
}

/* returns the accepted tokens only the context copy proposed */
static int compare(rd_model * m, rd_drafter * d, char ** prompts, int n_prompts, float temperature) {
    rd_session * ar = new_session(m, NULL, 1);
    rd_session * sp_sess = new_session(m, d, g_spec_threads);
    rd_sampler_params sp;
    rd_sampler_default_params(&sp);
    sp.temperature = temperature;
    sp.top_p = temperature > 0 ? 0.95f : 1.0f;
    int equal = 0, total_tokens = 0, total_calls = 0, total_copied = 0;
    for (int i = 0; i < n_prompts; i++) {
        static int32_t prompt[8192];
        int32_t a[N_GEN], b[N_GEN];
        int np = rd_model_tokenize(m, prompts[i], (int32_t) strlen(prompts[i]), true, false, prompt, 8192);
        if (!CHECK(np > 0, "prompt %d tokenizes (%d)", i, np)) continue;
        if (np > 512) np = 512; /* the byte-level tiny tokenizer makes long prompts; keep the head */
        sp.seed = 1000u + (uint32_t) i;
        int ca, cb, copied;
        int na = generate(ar, prompt, np, &sp, false, a, &ca, &copied);
        CHECK_EQ_INT(copied, 0);
        int nb = generate(sp_sess, prompt, np, &sp, true, b, &cb, &copied);
        bool same = na == nb && memcmp(a, b, sizeof(int32_t) * (size_t) na) == 0;
        CHECK(same, "T=%.1f prompt %d: speculative output differs from plain decoding (%d vs %d tokens)", temperature, i, nb, na);
        CHECK_EQ_INT(ca, na); /* plain decoding: one target call per token */
        equal += same;
        total_tokens += nb;
        total_calls += cb;
        total_copied += copied;
    }
    printf("T=%.1f%s%s: %d/%d prompts identical, tau %.3f with %s, %d tokens from the context copy\n", temperature,
           g_adaptive ? " (adaptive draft length)" : "", g_spec_threads > 1 ? " (speculative on 2 threads)" : "", equal, n_prompts,
           total_calls ? (double) total_tokens / total_calls : 0.0, d ? "a random drafter" : "no drafter", total_copied);
    rd_session_free(ar);
    rd_session_free(sp_sess);
    return total_copied;
}

/* m (freed here) with the random drafter at path: greedy at full trees, seeded with adaptive length */
static void compare_quantized(rd_model * m, const char * path, char ** prompts, int n, bool two_threads) {
    rd_drafter * d = NULL;
    if (m && CHECK_OK(rd_drafter_load(path, m, &d))) {
        g_adaptive = false;
        compare(m, d, prompts, n, 0.0f);
        g_adaptive = true;
        compare(m, d, prompts, n, 0.8f);
        if (two_threads) { /* the body kernel split across the session's pool: same bits */
            g_spec_threads = 2;
            compare(m, d, prompts, n, 0.8f);
            g_spec_threads = 1;
        }
    }
    rd_drafter_free(d);
    rd_model_free(m);
}

int main(void) {
    rd_model * m = rd_test_open_model();
    if (!m) return rd_test_done();
    char path[] = "/tmp/rd-test-drafter-XXXXXX";
    int fd = mkstemp(path);
    if (!CHECK(fd >= 0, "temp file")) return rd_test_done();
    close(fd);
    rd_drafter_init_params ip;
    rd_drafter_init_default_params(&ip);
    rd_drafter * d = NULL;
    if (CHECK_OK(rd_drafter_write_random(m, &ip, path)) && CHECK_OK(rd_drafter_load(path, m, &d))) {
        char ** prompts = NULL;
        int n = rd_test_read_prompts(N_PROMPTS, &prompts);
        if (n > 0) {
            compare(m, d, prompts, n, 0.0f);
            compare(m, d, prompts, n, 0.8f);
            g_adaptive = true; /* the draft length changes per step; the output must not */
            compare(m, d, prompts, n, 0.8f);
            /* the context copy alone: still speculative (the tiny model repeats itself) */
            CHECK(compare(m, NULL, prompts, n, 0.0f) > 0, "the context copy proposes accepted tokens without a drafter");
            /* the output layer in Q8_0: every logit, plain steps' too, from the session's own
             * kernel (head_kernel.h), whose bits do not depend on how many nodes share a call */
            compare_quantized(rd_test_open_model_q8(), path, prompts, n, false);
            /* the layers in Q4_1: every matrix product of plain steps and trees alike through
             * body_kernel.h, whose bits do not depend on how many tokens share a call, nor on
             * how many threads (the speculative session once more on 2) */
            compare_quantized(rd_test_open_model_q41(), path, prompts, n, true);
            /* the layers in Q5_0: the kernel's packed Q5_0 path where the CPU has AVX-512 VNNI,
             * else ggml's kernels (test_body_kernel checks 1 against 2 threads there) */
            compare_quantized(rd_test_open_model_q50(), path, prompts, n, false);
            rd_test_free_prompts(prompts, n);
        }
    }
    rd_drafter_free(d);
    remove(path);
    rd_model_free(m);
    return rd_test_done();
}
