/* verify_cost.c - the verify cost curve (DESIGN section 4): time of one tree llama_decode of N
 * nodes divided by the time of N = 1, for a target model. Trees are injected chains and fans
 * (rd_session_step_beams) so no drafter is needed; N values are interleaved round by round so
 * every point sees the same machine state, and the median of the rounds is reported.
 * Two sessions: llama.cpp's LM head on every node ("ms", "ratio"), and the head on demand
 * ("body_ms": the decode stopped at the final norm; "lazy_ms": that plus one head call for all
 * N nodes, i.e. a step whose walk visits every node (N <= 16), and "lazy_ratio" against its own
 * N = 1, a plain step). "head": the session's own head alone for 1..16 columns in one call
 * (rd_session_head_logits), "ms", "ratio" against one column and "ms_per_col", and
 * "output_type", the output layer's type: the head runs its own kernel on Q8_0, Q6_K and F16
 * (with SIMD code for the CPU), ggml's op on the others (head.h). Every injected draft is wrong,
 * so the walk reaches the root only.
 *
 *   verify-cost --model M.gguf [--threads T] [--rounds R] [--max-n N] [--gpu-layers G] [--lib-dir DIR]
 *               [--context P] [--invariant 1]
 *
 * --context: the tokens before the tree (default 8): attention's share grows with it.
 * --invariant 1: the model loaded batch-invariant, as sessions run it by default (flash
 * attention on an f16 cache; trees of one chain, so --max-n at most 17).
 *
 * --gpu-layers: layers offloaded (-1 = all; default 0, the CPU). With the output layer on a GPU
 * the session runs llama.cpp's head, so there are no "head" figures.
 */
#define _POSIX_C_SOURCE 200809L
#include "redrafter.h"

#include "gguf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec * 1e3 + (double) ts.tv_nsec / 1e6;
}

/* The type of the output layer (the token embeddings when tied), as ggml names it; "?" if unread. */
static const char * output_type(const char * path) {
    struct gguf_init_params gp = { true, NULL };
    struct gguf_context * g = gguf_init_from_file(path, gp);
    if (!g) return "?";
    int64_t t = gguf_find_tensor(g, "output.weight");
    if (t < 0) t = gguf_find_tensor(g, "token_embd.weight");
    const char * name = t < 0 ? "?" : ggml_type_name(gguf_get_tensor_type(g, t));
    gguf_free(g);
    return name;
}

static int cmp_double(const void * a, const void * b) {
    double x = *(const double *) a, y = *(const double *) b;
    return (x > y) - (x < y);
}

int main(int argc, char ** argv) {
    const char * model = NULL, * lib_dir = NULL;
    int threads = 0, rounds = 5, max_n = 33, gpu_layers = 0, context = 8, invariant = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--model")) model = argv[i + 1];
        else if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--rounds")) rounds = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--max-n")) max_n = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--gpu-layers")) gpu_layers = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--lib-dir")) lib_dir = argv[i + 1];
        else if (!strcmp(argv[i], "--context")) context = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--invariant")) invariant = atoi(argv[i + 1]);
    }
    if (invariant && max_n > 1 + RD_MAX_BEAM_LENGTH) max_n = 1 + RD_MAX_BEAM_LENGTH;
    if (!model || rounds < 1 || max_n < 1 || max_n > 1 + RD_MAX_BEAMS * RD_MAX_BEAM_LENGTH || context < 1 || context > 3000) {
        fprintf(stderr, "usage: verify-cost --model M.gguf [--threads T] [--rounds R] [--max-n N<=257] [--gpu-layers G] [--lib-dir DIR] [--context P<=3000] [--invariant 1]\n");
        return 2;
    }
    rd_log_set_quiet(true);
    /* without a backend every load fails as if the file were corrupt: say what is missing */
    if (rd_backend_init(lib_dir) != RD_OK) { fprintf(stderr, "error: %s\n", rd_last_error()); return 1; }
    rd_model * m = NULL;
    rd_session * s = NULL, * lz = NULL;
    rd_model_params mp;
    rd_model_default_params(&mp);
    mp.n_gpu_layers = gpu_layers;
    mp.batch_invariant = invariant != 0; /* fans of several beams: an invariant session verifies beam 0 only */
    if (rd_model_load(model, &mp, &m) != RD_OK) { fprintf(stderr, "error: %s\n", rd_last_error()); return 1; }
    rd_session_params p;
    rd_session_default_params(&p);
    p.n_ctx = 4096;
    p.n_threads = threads;
    p.beam_width = RD_MAX_BEAMS;
    p.beam_length = RD_MAX_BEAM_LENGTH;
    p.lazy_head = false;
    if (rd_session_init(m, NULL, &p, &s) != RD_OK) { fprintf(stderr, "error: %s\n", rd_last_error()); return 1; }
    p.lazy_head = true;
    if (rd_session_init(m, NULL, &p, &lz) != RD_OK) { fprintf(stderr, "error: %s\n", rd_last_error()); return 1; }

    int32_t * prompt = malloc(sizeof(int32_t) * (size_t) context);
    for (int i = 0; i < context; i++) prompt[i] = i == 0 ? 2 : 100 + (i * 97) % 2000;
    rd_sampler_params sp;
    rd_sampler_default_params(&sp);
    sp.ignore_eos = true;
    /* N = 1 + B*L for fans of B disjoint chains of length L; L <= 16 */
    int pts_b[64], pts_l[64], n_points = 0;
    for (int n = 1; n <= max_n && n_points < 64; n += n < 9 ? 1 : n < 17 ? 2 : 8) {
        int B = (n - 1 + RD_MAX_BEAM_LENGTH - 1) / RD_MAX_BEAM_LENGTH;
        while (B > 0 && (n - 1) % B) B++;
        pts_b[n_points] = B;
        pts_l[n_points] = B ? (n - 1) / B : 0;
        n_points++;
    }
    double * t = calloc((size_t) n_points * (size_t) rounds, sizeof(double));
    double * tb = calloc((size_t) n_points * (size_t) rounds, sizeof(double));
    double * th = calloc((size_t) RD_MAX_HEAD_COLS * (size_t) rounds, sizeof(double));
    const int32_t d = rd_model_n_embd(m), V = rd_model_n_vocab(m);
    float * hx = malloc(sizeof(float) * (size_t) d * RD_MAX_HEAD_COLS);
    float * logits = malloc(sizeof(float) * (size_t) V * RD_MAX_HEAD_COLS);
    bool head = true; /* the lazy session runs its own head (else: no head figures) */
    int32_t beams[RD_MAX_BEAMS * RD_MAX_BEAM_LENGTH], out[RD_MAX_BEAM_LENGTH + 1];
    for (int r = 0; r < rounds; r++) {
        for (int i = 0; i < n_points; i++) {
            const int B = pts_b[i], L = pts_l[i];
            for (int b = 0; b < B; b++)
                for (int k = 0; k < L; k++) beams[b * L + k] = 1000 + b * 37 + k;
            for (int lazy = 0; lazy < 2; lazy++) {
                rd_session * x = lazy ? lz : s;
                if (rd_session_prefill(x, prompt, context, &sp) != RD_OK) { fprintf(stderr, "error: %s\n", rd_last_error()); return 1; }
                rd_step_result res;
                /* the first token comes from the prompt, then the tree */
                if (rd_session_step(x, false, 1, out, NULL, &res) != RD_OK ||
                    rd_session_step_beams(x, beams, B, L, 1, out, NULL, &res) != RD_OK) {
                    fprintf(stderr, "error at B=%d L=%d: %s\n", B, L, rd_last_error());
                    return 1;
                }
                if (!lazy) t[i * rounds + r] = res.t_verify_ms;
                else tb[i * rounds + r] = res.t_verify_ms - res.t_head_ms;
            }
        }
        /* the head alone, on the prompt's hidden state and scaled copies of it */
        const float * h = rd_session_hidden(lz);
        for (int k = 0; k < RD_MAX_HEAD_COLS; k++)
            for (int32_t j = 0; j < d; j++) hx[(size_t) k * d + j] = h[j] * (1.0f + 0.1f * (float) k);
        for (int k = 1; k <= RD_MAX_HEAD_COLS && head; k++) {
            const double t0 = now_ms();
            head = rd_session_head_logits(lz, hx, k, logits) == RD_OK;
            th[(k - 1) * rounds + r] = now_ms() - t0;
        }
    }
    double base = 0, lazy_base = 0, head1 = 0;
    printf("{\"model\":\"%s\",\"output_type\":\"%s\",\"threads\":%d,\"gpu_layers\":%d,\"rounds\":%d,\"head\":[",
           model, output_type(model), threads, gpu_layers, rounds);
    for (int k = 1; k <= RD_MAX_HEAD_COLS && head; k++) {
        qsort(th + (k - 1) * rounds, (size_t) rounds, sizeof(double), cmp_double);
        const double med = th[(k - 1) * rounds + rounds / 2];
        if (k == 1) head1 = med;
        printf("%s{\"cols\":%d,\"ms\":%.3f,\"ratio\":%.3f,\"ms_per_col\":%.3f}", k > 1 ? "," : "", k, med, med / head1,
               med / k);
    }
    printf("],\"curve\":[");
    for (int i = 0; i < n_points; i++) {
        qsort(t + i * rounds, (size_t) rounds, sizeof(double), cmp_double);
        qsort(tb + i * rounds, (size_t) rounds, sizeof(double), cmp_double);
        const int n = 1 + pts_b[i] * pts_l[i];
        const double med = t[i * rounds + rounds / 2], body = tb[i * rounds + rounds / 2];
        if (i == 0) base = med;
        printf("%s{\"n\":%d,\"ms\":%.3f,\"ratio\":%.3f,\"body_ms\":%.3f", i ? "," : "", n, med, med / base, body);
        if (head && n <= RD_MAX_HEAD_COLS) {
            const double lazy = body + th[(n - 1) * rounds + rounds / 2];
            if (i == 0) lazy_base = lazy;
            printf(",\"lazy_ms\":%.3f,\"lazy_ratio\":%.3f", lazy, lazy / lazy_base);
        }
        printf("}");
    }
    printf("]}\n");
    free(t);
    free(prompt);
    free(tb);
    free(th);
    free(hx);
    free(logits);
    rd_session_free(lz);
    rd_session_free(s);
    rd_model_free(m);
    return 0;
}
