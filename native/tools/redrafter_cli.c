/* redrafter_cli.c - `redrafter-cli generate`: the generate command without a JS runtime (GPU
 * machines here have none). Same options and --json fields as `redrafter generate`. */
#define _POSIX_C_SOURCE 200809L
#include "redrafter.h"
#include "prompts.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct options {
    const char * model, * drafter, * prompt, * prompts, * lib_dir, * device;
    int limit, max_tokens, top_k, beam_width, beam_length, ctx, threads, flash_attn, gpu_layers;
    float temperature, top_p;
    long long seed;
    int no_draft, json, kv_f32, chat, fixed_length;
} options;

/* defaults come from the library (rd_*_default_params), as for `redrafter generate` */
static void usage(void) {
    rd_session_params sp;
    rd_session_default_params(&sp);
    rd_model_params mp;
    rd_model_default_params(&mp);
    fprintf(stderr,
        "usage: redrafter-cli generate --model M [--drafter D] (--prompt TEXT | --prompts FILE.jsonl)\n"
        "         [--limit K] [--max-tokens N] [--temperature T] [--top-p P] [--top-k K] [--seed S]\n"
        "         [--beam-width B] [--beam-length L] [--no-draft] [--ctx-size N] [--threads N]\n"
        "         [--flash-attn auto|on|off] [--kv-f32] [--gpu-layers N] [--device NAME]\n"
        "         [--chat] [--fixed-length] [--lib-dir DIR] [--json]\n"
        "defaults: --beam-width [%d] --beam-length [%d] --gpu-layers [%d] --max-tokens [128]\n",
        sp.beam_width, sp.beam_length, mp.n_gpu_layers);
}

static int parse(int argc, char ** argv, options * o) {
    memset(o, 0, sizeof *o);
    rd_session_params sp;
    rd_session_default_params(&sp);
    rd_model_params mp;
    rd_model_default_params(&mp);
    o->max_tokens = 128; o->top_p = 1.0f; o->seed = -1;
    o->beam_width = sp.beam_width; o->beam_length = sp.beam_length; o->ctx = sp.n_ctx; o->threads = sp.n_threads;
    o->flash_attn = sp.flash_attn; o->gpu_layers = mp.n_gpu_layers;
    if (argc < 2 || strcmp(argv[1], "generate") != 0) return -1;
    for (int i = 2; i < argc; i++) {
        const char * a = argv[i];
        const char * v = i + 1 < argc ? argv[i + 1] : NULL;
#define STR(flag, field) if (!strcmp(a, flag)) { if (!v) return -1; o->field = v; i++; continue; }
#define INT(flag, field) if (!strcmp(a, flag)) { if (!v) return -1; o->field = atoi(v); i++; continue; }
#define FLT(flag, field) if (!strcmp(a, flag)) { if (!v) return -1; o->field = (float) atof(v); i++; continue; }
        STR("--model", model) STR("--drafter", drafter) STR("--prompt", prompt) STR("--prompts", prompts)
        STR("--lib-dir", lib_dir) STR("--device", device)
        INT("--limit", limit) INT("--max-tokens", max_tokens) INT("--top-k", top_k)
        INT("--beam-width", beam_width) INT("--beam-length", beam_length) INT("--ctx-size", ctx)
        INT("--threads", threads) INT("--gpu-layers", gpu_layers) INT("--n-gpu-layers", gpu_layers)
        FLT("--temperature", temperature) FLT("--top-p", top_p)
        if (!strcmp(a, "--seed")) { if (!v) return -1; o->seed = atoll(v); i++; continue; }
        if (!strcmp(a, "--flash-attn")) {
            if (!v) return -1;
            o->flash_attn = !strcmp(v, "on") ? 1 : !strcmp(v, "off") ? 0 : -1;
            i++; continue;
        }
        if (!strcmp(a, "--no-draft")) { o->no_draft = 1; continue; }
        if (!strcmp(a, "--json")) { o->json = 1; continue; }
        if (!strcmp(a, "--kv-f32")) { o->kv_f32 = 1; continue; }
        if (!strcmp(a, "--chat")) { o->chat = 1; continue; }
        if (!strcmp(a, "--fixed-length")) { o->fixed_length = 1; continue; }
        fprintf(stderr, "error: unknown option %s\n", a);
        return -1;
    }
    if (!o->model || (!o->prompt == !o->prompts)) return -1;
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
static char * render(rd_model * m, const options * o, const char * text) {
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

static int run_prompt(rd_model * m, rd_session * s, const options * o, int idx, const char * raw) {
    char * text = render(m, o, raw);
    if (!text) return fail("out of memory");
    int32_t cap = (int32_t) strlen(text) + 16;
    int32_t * prompt = malloc(sizeof(int32_t) * (size_t) cap);
    int32_t * out = malloc(sizeof(int32_t) * (size_t) (o->max_tokens + 1));
    char * buf = NULL;
    size_t text_len = 0, text_cap = 0;
    int rc = 0;
    int32_t n_prompt = rd_model_tokenize(m, text, (int32_t) strlen(text), true, o->chat != 0, prompt, cap);
    rd_sampler_params sp;
    rd_sampler_default_params(&sp);
    sp.temperature = o->temperature;
    sp.top_k = o->top_k;
    sp.top_p = o->top_p;
    if (o->seed >= 0) sp.seed = (uint32_t) o->seed;
    double t0 = now_ms();
    if (n_prompt < 0 || rd_session_prefill(s, prompt, n_prompt, &sp) != RD_OK) { rc = fail("prefill"); goto done; }
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
    options o;
    if (parse(argc, argv, &o) != 0) { usage(); return 2; }
    if (rd_backend_init(o.lib_dir) != RD_OK) return fail("backend");
    rd_log_set_quiet(true);
    rd_model_params mp;
    rd_model_default_params(&mp);
    mp.n_gpu_layers = o.gpu_layers;
    mp.device = o.device;
    rd_model * m = NULL;
    rd_drafter * d = NULL;
    rd_session * s = NULL;
    char ** prompts = NULL;
    int n_prompts = 0, rc = 1;
    if (rd_model_load(o.model, &mp, &m) != RD_OK) { fail("model"); goto out; }
    if (o.drafter && rd_drafter_load(o.drafter, m, &d) != RD_OK) { fail("drafter"); goto out; }
    rd_session_params p;
    rd_session_default_params(&p);
    p.n_ctx = o.ctx; p.n_threads = o.threads; p.beam_width = o.beam_width; p.beam_length = o.beam_length;
    p.flash_attn = o.flash_attn; p.kv_f32 = o.kv_f32 != 0; p.adaptive = !o.fixed_length;
    if (rd_session_init(m, d, &p, &s) != RD_OK) { fail("session"); goto out; }
    if (o.prompt) rc = run_prompt(m, s, &o, 0, o.prompt);
    else {
        n_prompts = rd_read_prompts(o.prompts, o.limit, &prompts);
        if (n_prompts < 0) { fprintf(stderr, "error: cannot read prompts from %s\n", o.prompts); goto out; }
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
