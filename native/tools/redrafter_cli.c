/* redrafter_cli.c - `redrafter-cli generate`: the generate command without a JS runtime (GPU
 * machines here have none). Same options and --json fields as `redrafter generate`. */
#define _POSIX_C_SOURCE 200809L
#include "redrafter.h"
#include "flags.h"
#include "prompts.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char * const KEYS[] = {
    "model", "drafter", "prompt", "prompts", "limit", "maxTokens", "temperature", "topP", "topK", "seed",
    "beamWidth", "beamLength", "noDraft", "fixedLength", "ctxSize", "threads", "flashAttn", "kvF32",
    "gpuLayers", "device", "chat", "libDir", "json", NULL,
};

static int parse(int argc, char ** argv, rd_tool_settings * o) {
    rd_tool_settings_default(o);
    if (argc < 2 || strcmp(argv[1], "generate") != 0) return -1;
    if (rd_tool_parse(KEYS, argc, argv, 2, o) != 0) return -1;
    if (!o->target || (!o->prompt == !o->n_prompt_files)) return -1;
    return 0;
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void json_string(FILE * f, const char * s, size_t n) {
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char) s[i];
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c == '\n') fputs("\\n", f);
        else if (c < 0x20) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

static int fail(const char * what) {
    fprintf(stderr, "error: %s: %s\n", what, rd_last_error());
    return 1;
}

/* --chat: the prompt as one user turn of the model's chat template (malloc'd), else a copy */
static char * render(rd_model * m, const rd_tool_settings * o, const char * text) {
    int32_t n = o->chat ? rd_model_chat_user_prompt(m, text, NULL, 0) : -1;
    if (n < -1) {
        char * buf = malloc((size_t) -n);
        if (buf && rd_model_chat_user_prompt(m, text, buf, -n) >= 0) return buf;
        free(buf);
    }
    if (o->chat) fprintf(stderr, "warning: no usable chat template, using the raw prompt\n");
    char * copy = malloc(strlen(text) + 1);
    if (copy) strcpy(copy, text);
    return copy;
}

static int run_prompt(rd_model * m, rd_session * s, const rd_tool_settings * o, int idx, const char * raw) {
    char * text = render(m, o, raw);
    if (!text) return fail("out of memory");
    int32_t cap = (int32_t) strlen(text) + 16;
    int32_t * prompt = malloc(sizeof(int32_t) * (size_t) cap);
    int32_t * out = malloc(sizeof(int32_t) * (size_t) (o->max_tokens + 1));
    char * buf = NULL;
    size_t text_len = 0, text_cap = 0;
    int rc = 0;
    int32_t n_prompt = rd_model_tokenize(m, text, (int32_t) strlen(text), true, o->chat != 0, prompt, cap);
    double t0 = now_ms();
    if (n_prompt < 0 || rd_session_prefill(s, prompt, n_prompt, &o->sampler) != RD_OK) { rc = fail("prefill"); goto done; }
    double t1 = now_ms(), t_first = 0, draft = 0, verify = 0, other = 0, dedup_sum = 0;
    int n = 0, calls = 0, spec_steps = 0;
    const char * finish = "length";
    while (n < o->max_tokens) {
        rd_step_result r;
        if (rd_session_step(s, !o->no_draft, o->max_tokens - n, out + n, NULL, &r) != RD_OK) { rc = fail("step"); goto done; }
        if (n == 0) t_first = now_ms();
        for (int i = 0; i < r.n_tokens; i++) {
            char piece[256];
            int32_t k = rd_model_token_to_piece(m, out[n + i], false, piece, sizeof piece);
            if (k <= 0) continue;
            if (!o->json) { fwrite(piece, 1, (size_t) k, stdout); fflush(stdout); }
            if (text_len + (size_t) k + 1 > text_cap) {
                text_cap = 2 * (text_len + (size_t) k + 1);
                buf = realloc(buf, text_cap);
            }
            memcpy(buf + text_len, piece, (size_t) k);
            text_len += (size_t) k;
        }
        n += r.n_tokens;
        calls += r.target_calls;
        draft += r.t_draft_ms; verify += r.t_verify_ms; other += r.t_other_ms;
        if (r.n_drafted > 0) { dedup_sum += 1.0 - (double) r.n_tree / (r.n_drafted + 1); spec_steps++; }
        if (r.finish == RD_FINISH_EOS) { finish = "stop"; if (n > 0 && rd_model_token_is_eog(m, out[n - 1])) n--; break; }
        if (r.finish == RD_FINISH_NO_TOKEN) { finish = "stop"; break; }
        if (r.finish == RD_FINISH_LENGTH) break;
    }
    double t2 = now_ms();
    double gen_s = (t2 - t1) / 1e3;
    double tau = calls ? (double) n / calls : 0, tps = gen_s > 0 ? n / gen_s : 0;
    if (o->json) {
        printf("{\"id\":%d,\"tokens\":[", idx);
        for (int i = 0; i < n; i++) printf(i ? ",%d" : "%d", out[i]);
        printf("],\"text\":");
        json_string(stdout, buf ? buf : "", text_len);
        printf(",\"n_prompt\":%d,\"n_generated\":%d,\"target_calls\":%d,\"tau\":%.4f,\"tokens_per_s\":%.3f,"
               "\"ttft_ms\":%.3f,\"dedup\":%.4f,\"time\":{\"prefill_ms\":%.3f,\"draft_ms\":%.3f,\"verify_ms\":%.3f,"
               "\"other_ms\":%.3f},\"finish_reason\":\"%s\",\"flash_attn\":%s}\n",
               n_prompt, n, calls, tau, tps, t_first - t0, spec_steps ? dedup_sum / spec_steps : 0.0,
               t1 - t0, draft, verify, other, finish, rd_session_flash_attn(s) ? "true" : "false");
    } else {
        fprintf(stderr, "\n[%d tokens, %d target calls, tau %.2f, %.1f tokens/s, draft %.0f ms, verify %.0f ms, other %.0f ms]\n",
                n, calls, tau, tps, draft, verify, other);
    }
done:
    free(prompt); free(out); free(buf); free(text);
    return rc;
}

int main(int argc, char ** argv) {
    rd_tool_settings o;
    if (parse(argc, argv, &o) != 0) {
        rd_tool_usage("usage: redrafter-cli generate --model M [--drafter D] (--prompt TEXT | --prompts FILE.jsonl) [options]", KEYS);
        return 2;
    }
    if (rd_backend_init(o.lib_dir) != RD_OK) return fail("backend");
    rd_log_set_quiet(true);
    rd_model * m = NULL;
    rd_drafter * d = NULL;
    rd_session * s = NULL;
    char ** prompts = NULL;
    int n_prompts = 0, rc = 1;
    if (rd_model_load(o.target, &o.model, &m) != RD_OK) { fail("model"); goto out; }
    if (o.drafter && rd_drafter_load(o.drafter, m, &d) != RD_OK) { fail("drafter"); goto out; }
    o.session.adaptive = !o.fixed_length;
    if (rd_session_init(m, d, &o.session, &s) != RD_OK) { fail("session"); goto out; }
    if (o.prompt) rc = run_prompt(m, s, &o, 0, o.prompt);
    else {
        n_prompts = rd_read_prompts(o.prompts[o.n_prompt_files - 1], o.limit, &prompts);
        if (n_prompts < 0) { fprintf(stderr, "error: cannot read prompts from %s\n", o.prompts[o.n_prompt_files - 1]); goto out; }
        rc = 0;
        for (int i = 0; i < n_prompts && rc == 0; i++) rc = run_prompt(m, s, &o, i, prompts[i]);
    }
out:
    rd_free_prompts(prompts, n_prompts);
    rd_session_free(s);
    rd_drafter_free(d);
    rd_model_free(m);
    return rc;
}
