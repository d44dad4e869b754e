/* verify_cost.c - the verify cost curve (DESIGN section 4): time of one tree llama_decode of N
 * nodes divided by the time of N = 1, for a target model. Trees are injected chains and fans
 * (rd_session_step_beams) so no drafter is needed; N values are interleaved round by round so
 * every point sees the same machine state, and the median of the rounds is reported.
 *
 *   verify-cost --model M.gguf [--threads T] [--rounds R] [--max-n N] [--lib-dir DIR]
 */
#define _POSIX_C_SOURCE 200809L
#include "redrafter.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_double(const void * a, const void * b) {
    double x = *(const double *) a, y = *(const double *) b;
    return (x > y) - (x < y);
}

int main(int argc, char ** argv) {
    const char * model = NULL, * lib_dir = NULL;
    int threads = 0, rounds = 5, max_n = 33;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--model")) model = argv[i + 1];
        else if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--rounds")) rounds = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--max-n")) max_n = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--lib-dir")) lib_dir = argv[i + 1];
    }
    if (!model || rounds < 1 || max_n < 1 || max_n > 1 + RD_MAX_BEAMS * RD_MAX_BEAM_LENGTH) {
        fprintf(stderr, "usage: verify-cost --model M.gguf [--threads T] [--rounds R] [--max-n N<=257] [--lib-dir DIR]\n");
        return 2;
    }
    rd_backend_init(lib_dir);
    rd_log_set_quiet(true);
    rd_model * m = NULL;
    rd_session * s = NULL;
    if (rd_model_load(model, NULL, &m) != RD_OK) { fprintf(stderr, "error: %s\n", rd_last_error()); return 1; }
    rd_session_params p;
    rd_session_default_params(&p);
    p.n_ctx = 4096;
    p.n_threads = threads;
    p.beam_width = RD_MAX_BEAMS;
    p.beam_length = RD_MAX_BEAM_LENGTH;
    if (rd_session_init(m, NULL, &p, &s) != RD_OK) { fprintf(stderr, "error: %s\n", rd_last_error()); return 1; }

    const int32_t prompt[8] = {2, 100, 200, 300, 400, 500, 600, 700};
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
    int32_t beams[RD_MAX_BEAMS * RD_MAX_BEAM_LENGTH], out[RD_MAX_BEAM_LENGTH + 1];
    for (int r = 0; r < rounds; r++) {
        for (int i = 0; i < n_points; i++) {
            const int B = pts_b[i], L = pts_l[i];
            for (int b = 0; b < B; b++)
                for (int k = 0; k < L; k++) beams[b * L + k] = 1000 + b * 37 + k;
            if (rd_session_prefill(s, prompt, 8, &sp) != RD_OK) { fprintf(stderr, "error: %s\n", rd_last_error()); return 1; }
            rd_step_result res;
            rd_session_step(s, false, 1, out, NULL, &res); /* first token: from the prompt */
            if (rd_session_step_beams(s, beams, B, L, 1, out, NULL, &res) != RD_OK) {
                fprintf(stderr, "error at B=%d L=%d: %s\n", B, L, rd_last_error());
                return 1;
            }
            t[i * rounds + r] = res.t_verify_ms;
        }
    }
    double base = 0;
    printf("{\"model\":\"%s\",\"threads\":%d,\"rounds\":%d,\"curve\":[", model, threads, rounds);
    for (int i = 0; i < n_points; i++) {
        qsort(t + i * rounds, (size_t) rounds, sizeof(double), cmp_double);
        const double med = t[i * rounds + rounds / 2];
        if (i == 0) base = med;
        printf("%s{\"n\":%d,\"ms\":%.3f,\"ratio\":%.3f}", i ? "," : "", 1 + pts_b[i] * pts_l[i], med, med / base);
    }
    printf("]}\n");
    free(t);
    rd_session_free(s);
    rd_model_free(m);
    return 0;
}
