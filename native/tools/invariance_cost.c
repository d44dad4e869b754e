/* invariance_cost.c - what rd_model_params.batch_invariant costs, and what it buys: plain and
 * speculative generation (greedy, the gateway's defaults: one drafter beam of up to 2 tokens,
 * adaptive, context copy up to 16) with the model loaded batch-invariant and not. The four runs
 * alternate per prompt (their order rotating) in one process, so each ratio compares the same
 * machine state; per mode it also counts the prompts whose speculative output equals the plain
 * output token for token.
 *
 *   invariance-cost --model M --prompts FILE.jsonl [--drafter D] [--limit K] [--max-tokens N]
 *                   [--threads T] [--lib-dir DIR]
 *
 * Tokens/s is the generation phase (first step to last; prefill excluded), summed over prompts,
 * per second of this process's CPU time (all its threads), which other processes' load on a
 * shared machine barely moves; wall-clock rates are printed beside it. The prefills' CPU time is
 * compared too (the prompt is decoded in one batch, where repacked weights are faster).
 */
#define _POSIX_C_SOURCE 200809L
#include "redrafter.h"
#include "prompts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ms(clockid_t clock) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

typedef struct mode {
    rd_model * m;
    rd_drafter * d;
    rd_session * s;
    double cpu_ms[2], wall_ms[2]; /* [spec]: generation time */
    double prefill_ms;            /* CPU time */
    long tokens[2], calls[2];
    int identical;
} mode;

/* Greedy generation of up to max_tokens (EOS ends it) into out; returns the count, -1 on error. */
static int generate(mode * md, const int32_t * prompt, int32_t n_prompt, int spec, int max_tokens, int32_t * out) {
    rd_sampler_params sp;
    rd_sampler_default_params(&sp);
    const double p0 = now_ms(CLOCK_PROCESS_CPUTIME_ID);
    if (rd_session_prefill(md->s, prompt, n_prompt, &sp) != RD_OK) return -1;
    const double c0 = now_ms(CLOCK_PROCESS_CPUTIME_ID), w0 = now_ms(CLOCK_MONOTONIC);
    md->prefill_ms += c0 - p0;
    int n = 0;
    while (n < max_tokens) {
        rd_step_result r;
        if (rd_session_step(md->s, spec != 0, max_tokens - n, out + n, NULL, &r) != RD_OK) return -1;
        n += r.n_tokens;
        md->calls[spec] += r.target_calls;
        if (r.finish != RD_FINISH_NONE) break;
    }
    md->cpu_ms[spec] += now_ms(CLOCK_PROCESS_CPUTIME_ID) - c0;
    md->wall_ms[spec] += now_ms(CLOCK_MONOTONIC) - w0;
    md->tokens[spec] += n;
    return n;
}

static int fail(const char * what) {
    fprintf(stderr, "error: %s: %s\n", what, rd_last_error());
    return 1;
}

int main(int argc, char ** argv) {
    const char * model = NULL, * drafter = NULL, * prompts_path = NULL, * lib_dir = NULL;
    int limit = 12, max_tokens = 96, threads = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--model")) model = argv[i + 1];
        else if (!strcmp(argv[i], "--drafter")) drafter = argv[i + 1];
        else if (!strcmp(argv[i], "--prompts")) prompts_path = argv[i + 1];
        else if (!strcmp(argv[i], "--lib-dir")) lib_dir = argv[i + 1];
        else if (!strcmp(argv[i], "--limit")) limit = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--max-tokens")) max_tokens = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
    }
    if (!model || !prompts_path || max_tokens < 1) {
        fprintf(stderr, "usage: invariance-cost --model M --prompts FILE.jsonl [--drafter D] [--limit K] "
                        "[--max-tokens N] [--threads T] [--lib-dir DIR]\n");
        return 2;
    }
    if (rd_backend_init(lib_dir) != RD_OK) return fail("backend");
    rd_log_set_quiet(true);
    mode modes[2]; /* [0]: batch_invariant, [1]: not */
    memset(modes, 0, sizeof modes);
    for (int k = 0; k < 2; k++) {
        rd_model_params mp;
        rd_model_default_params(&mp);
        mp.batch_invariant = k == 0;
        if (rd_model_load(model, &mp, &modes[k].m) != RD_OK) return fail("model");
        if (drafter && rd_drafter_load(drafter, modes[k].m, &modes[k].d) != RD_OK) return fail("drafter");
        rd_session_params p;
        rd_session_default_params(&p);
        p.n_threads = threads;
        p.beam_width = 1;
        p.beam_length = 2;
        if (rd_session_init(modes[k].m, modes[k].d, &p, &modes[k].s) != RD_OK) return fail("session");
    }
    char ** prompts = NULL;
    const int n_prompts = rd_read_prompts(prompts_path, limit, &prompts);
    if (n_prompts < 0) { fprintf(stderr, "error: cannot read prompts from %s\n", prompts_path); return 1; }
    int32_t * out = malloc(sizeof(int32_t) * 4 * (size_t) (max_tokens + 1));
    for (int i = 0; i < n_prompts; i++) {
        const int32_t need = -rd_model_chat_user_prompt(modes[0].m, prompts[i], NULL, 0);
        char * text = need > 0 ? malloc((size_t) need) : NULL;
        if (!text || rd_model_chat_user_prompt(modes[0].m, prompts[i], text, need) < 0) return fail("chat template");
        int32_t cap = (int32_t) strlen(text) + 16;
        int32_t * prompt = malloc(sizeof(int32_t) * (size_t) cap);
        const int32_t n_prompt = rd_model_tokenize(modes[0].m, text, (int32_t) strlen(text), true, true, prompt, cap);
        int n[4];
        for (int j = 0; j < 4; j++) {
            const int run = (i + j) % 4, k = run / 2, spec = run % 2; /* rotate the order per prompt */
            n[run] = generate(&modes[k], prompt, n_prompt, spec, max_tokens, out + run * (max_tokens + 1));
            if (n[run] < 0) return fail("generate");
        }
        for (int k = 0; k < 2; k++) {
            const int32_t * plain = out + (2 * k) * (max_tokens + 1), * spec = out + (2 * k + 1) * (max_tokens + 1);
            modes[k].identical += n[2 * k] == n[2 * k + 1] && !memcmp(plain, spec, sizeof(int32_t) * (size_t) n[2 * k]);
        }
        free(prompt);
        free(text);
    }
    double tps[2][2], wall[2][2]; /* [mode][spec], tokens per CPU / wall second */
    for (int k = 0; k < 2; k++)
        for (int spec = 0; spec < 2; spec++) {
            tps[k][spec] = modes[k].tokens[spec] / (modes[k].cpu_ms[spec] / 1e3);
            wall[k][spec] = modes[k].tokens[spec] / (modes[k].wall_ms[spec] / 1e3);
        }
    for (int k = 0; k < 2; k++)
        printf("batch_invariant %-5s plain %.2f tokens/s (wall %.2f), speculative %.2f (wall %.2f): %.2fx at tau %.2f; "
               "speculative == plain on %d/%d prompts\n", k ? "false" : "true", tps[k][0], wall[k][0], tps[k][1], wall[k][1],
               tps[k][1] / tps[k][0], (double) modes[k].tokens[1] / (double) modes[k].calls[1], modes[k].identical, n_prompts);
    printf("{\"plain_ratio\":%.4f,\"speculative_ratio\":%.4f,\"plain_ratio_wall\":%.4f,\"speculative_ratio_wall\":%.4f,"
           "\"prefill_time_ratio\":%.4f,\"prompts\":%d,\"max_tokens\":%d,\"identical_invariant\":%d,\"identical_not\":%d}\n",
           tps[0][0] / tps[1][0], tps[0][1] / tps[1][1], wall[0][0] / wall[1][0], wall[0][1] / wall[1][1],
           modes[0].prefill_ms / modes[1].prefill_ms, n_prompts, max_tokens, modes[0].identical, modes[1].identical);
    free(out);
    rd_free_prompts(prompts, n_prompts);
    for (int k = 0; k < 2; k++) {
        rd_session_free(modes[k].s);
        rd_drafter_free(modes[k].d);
        rd_model_free(modes[k].m);
    }
    return 0;
}
