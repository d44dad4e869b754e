/* redrafter_distill.c - `redrafter-distill`: knowledge distillation without a JS runtime (GPU
 * machines here have none; `redrafter distill` is the same pipeline through bun:ffi).
 * Phases: teacher data (cached under --cache-dir, keyed by target + prompts + settings) ->
 * draft vocabulary -> training with per-epoch evaluation -> the drafter GGUF. */
#define _POSIX_C_SOURCE 200809L
#include "redrafter.h"
#include "flags.h"
#include "prompts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char * const KEYS[] = {
    "target", "prompts", "out", "trainBeamLength", "trainDraftVocab", "maxNewTokens", "epochs", "initSeed",
    "resume", "limit", "parallel", "distillThreads", "teacherTopK", "holdout", "nProj", "nLayers", "trainWeights",
    "batch", "lr", "teacherMaxS", "tauTokens", "cacheDir", "teacherOnly", "libDir", NULL,
};

static int parse(int argc, char ** argv, rd_tool_settings * o) {
    rd_tool_settings_default(o);
    if (rd_tool_parse(KEYS, argc, argv, 1, o) != 0) return -1;
    if (!o->target || !o->n_prompt_files || (!o->out && !o->teacher_only)) return -1;
    return 0;
}

static int fail(const char * what) {
    fprintf(stderr, "error: %s: %s\n", what, rd_last_error());
    return 1;
}

static void bar(const char * phase, double done, double total, double rate, const char * unit, double eta) {
    const int width = 30;
    const double f = total > 0 ? done / total : 0;
    int fill = (int) (f * width);
    if (fill > width) fill = width;
    char b[64];
    for (int i = 0; i < width; i++) b[i] = i < fill ? '#' : '.';
    b[width] = 0;
    fprintf(stderr, "\r%-8s [%s] %5.1f%% %8.1f %s/s  ETA %s%6.0fs ", phase, b, 100 * f, rate, unit,
            eta < 0 ? "~" : " ", eta < 0 ? 0 : eta);
    fflush(stderr);
}

typedef struct prompt_set {
    int32_t * tokens;
    int64_t * offsets;
    int n;
} prompt_set;

/* tokens of the chat-templated prompts idx[0..n) of texts */
static int tokenize_set(rd_model * m, char ** texts, const int * idx, int n, prompt_set * out) {
    size_t cap = 1 << 16, len = 0;
    out->tokens = malloc(cap * sizeof(int32_t));
    out->offsets = malloc(((size_t) n + 1) * sizeof(int64_t));
    out->n = n;
    out->offsets[0] = 0;
    for (int i = 0; i < n; i++) {
        const char * user = texts[idx[i]];
        int32_t need = rd_model_chat_user_prompt(m, user, NULL, 0);
        char * buf = NULL;
        const char * text = user;
        if (need < -1) {
            buf = malloc((size_t) -need);
            rd_model_chat_user_prompt(m, user, buf, -need);
            text = buf;
        }
        for (;;) {
            int32_t k = rd_model_tokenize(m, text, (int32_t) strlen(text), true, true, out->tokens + len, (int32_t) (cap - len));
            if (k >= 0) { len += (size_t) k; break; }
            while (cap - len < (size_t) -k) cap *= 2;
            out->tokens = realloc(out->tokens, cap * sizeof(int32_t));
        }
        free(buf);
        out->offsets[i + 1] = (int64_t) len;
    }
    return 0;
}

/* Phase 1: run the teacher until done (or max_s seconds); 0 on success. */
static int collect(rd_model * m, const rd_teacher_params * tp, const prompt_set * train, const char * path,
                   int max_s, rd_teacher_progress * tpr) {
    rd_teacher * t = NULL;
    if (rd_teacher_init(m, tp, train->tokens, train->offsets, train->n, path, &t) != RD_OK) return fail("teacher");
    fprintf(stderr, "teacher data: %s\n", path);
    do {
        if (rd_teacher_run(t, 500, tpr) != RD_OK) { rd_teacher_free(t); return fail("teacher"); }
        bar("teacher", (double) (tpr->n_done + tpr->n_skipped), (double) tpr->n_prompts, tpr->tokens_per_s, "tok", tpr->eta_s);
    } while (!tpr->finished && (max_s <= 0 || tpr->elapsed_s < max_s));
    rd_teacher_free(t);
    fprintf(stderr, "\nteacher: %lld prompts (%lld resumed, %lld skipped as too long), %lld positions, %.1f s, %.1f tok/s\n",
            (long long) tpr->n_done, (long long) tpr->n_resumed, (long long) tpr->n_skipped, (long long) tpr->n_positions,
            tpr->elapsed_s, tpr->tokens_per_s);
    return 0;
}

int main(int argc, char ** argv) {
    rd_tool_settings o;
    if (parse(argc, argv, &o) != 0) {
        rd_tool_usage("usage: redrafter-distill --target M --prompts FILE.jsonl [--prompts FILE2 ...] --out D.gguf [options]", KEYS);
        return 2;
    }
    if (rd_backend_init(o.lib_dir) != RD_OK) return fail("backend");
    rd_log_set_quiet(true);

    /* all prompts of all files, then a stride sample of --limit; the last --holdout of the
     * sample are held out of training for the tau measurement */
    char ** texts = NULL;
    int n_texts = 0;
    for (int f = 0; f < o.n_prompt_files; f++) {
        char ** p = NULL;
        const int n = rd_read_prompts(o.prompts[f], 0, &p);
        if (n <= 0) { fprintf(stderr, "error: prompt file '%s' is unreadable, malformed or holds no prompt\n", o.prompts[f]); return 1; }
        texts = realloc(texts, sizeof(char *) * (size_t) (n_texts + n));
        memcpy(texts + n_texts, p, sizeof(char *) * (size_t) n);
        n_texts += n;
        free(p);
    }
    const int n_use = o.limit > 0 && o.limit < n_texts ? o.limit : n_texts;
    int * idx = malloc(sizeof(int) * (size_t) n_use);
    for (int i = 0; i < n_use; i++) idx[i] = (int) ((long long) i * n_texts / n_use);
    const int n_hold = o.holdout < n_use / 2 ? o.holdout : n_use / 2;
    const int n_train = n_use - n_hold;

    /* the teacher decodes many sequences per batch, where repacked weights are faster (their gemm),
     * and its answers need not match any other decoding bit for bit */
    o.model.batch_invariant = false;
    rd_model * m = NULL;
    if (rd_model_load(o.target, &o.model, &m) != RD_OK) return fail("target");

    prompt_set train, hold;
    tokenize_set(m, texts, idx, n_train, &train);
    tokenize_set(m, texts, idx + n_train, n_hold, &hold);
    fprintf(stderr, "prompts: %d for teacher data, %d held out (of %d in %d file(s))\n", n_train, n_hold, n_texts, o.n_prompt_files);

    const rd_teacher_params tp = o.teacher;
    const unsigned long long key = (unsigned long long) rd_teacher_cache_key(m, &tp, train.tokens, train.offsets, train.n);
    mkdir(o.cache_dir, 0755);
    char teacher_path[4096];
    snprintf(teacher_path, sizeof teacher_path, "%s/teacher-%016llx.rdt", o.cache_dir, key);

    char ckpt[4200];
    snprintf(ckpt, sizeof ckpt, "%s.ckpt", o.out ? o.out : "");
    struct stat st_ck, st_t;
    /* resuming a training run keeps its teacher data exactly as it was (even if incomplete) */
    const int skip_teacher = o.resume && o.out && stat(ckpt, &st_ck) == 0 && stat(teacher_path, &st_t) == 0;
    rd_teacher_progress tpr;
    memset(&tpr, 0, sizeof tpr);
    if (skip_teacher) {
        fprintf(stderr, "teacher: resuming training from %s: using %s as it is\n", ckpt, teacher_path);
        tpr.finished = 1;
    } else if (collect(m, &tp, &train, teacher_path, o.teacher_max_s, &tpr) != 0) {
        return 1;
    }
    if (o.teacher_only) return 0;
    if (!tpr.finished) fprintf(stderr, "teacher: stopped after --teacher-max-s %d; training on the %lld answers collected\n", o.teacher_max_s, (long long) tpr.n_done);

    /* fail before hours of training, not after */
    FILE * probe = fopen(o.out, "ab");
    if (!probe) { fprintf(stderr, "error: cannot write --out '%s'\n", o.out); return 1; }
    fclose(probe);

    rd_train_params p = o.train;
    p.n_threads = tp.n_threads;
    p.n_proj = o.n_proj >= 0 ? o.n_proj : (rd_model_n_embd(m) >= 512 ? rd_model_n_embd(m) : 0);
    rd_trainer * tr = NULL;
    if (rd_trainer_init(m, teacher_path, &p, ckpt, o.resume != 0, &tr) != RD_OK) return fail("train");
    rd_train_progress pr;
    memset(&pr, 0, sizeof pr);
    long long last_eval = 0;
    do {
        if (rd_trainer_run(tr, 1000, 0, &pr) != RD_OK) return fail("train");
        bar("train", (double) pr.step, (double) pr.total_steps, pr.samples_per_s, "smp", pr.eta_s);
        fprintf(stderr, "loss %.3f lr %.2e ", pr.loss, pr.lr);
        if (pr.n_evals != last_eval) {
            last_eval = pr.n_evals;
            fprintf(stderr, "\neval after epoch %lld: KL %.3f  top-1", (long long) pr.epoch, pr.eval_kl);
            for (int k = 0; k < p.beam_length; k++) fprintf(stderr, " %.3f", pr.acc1[k]);
            fprintf(stderr, "  top-4");
            for (int k = 0; k < p.beam_length; k++) fprintf(stderr, " %.3f", pr.accB[k]);
            fprintf(stderr, "\n");
        }
    } while (!pr.finished);
    fprintf(stderr, "\ntrain: %lld steps, %lld samples/epoch, draft vocab %d (coverage %.3f), %.1f s, %.1f samples/s\n",
            (long long) pr.step, (long long) pr.n_train_samples, p.n_draft_vocab, pr.coverage, pr.elapsed_s, pr.samples_per_s);
    if (rd_trainer_save(tr, o.out) != RD_OK) return fail("save");
    rd_trainer_free(tr);
    fprintf(stderr, "saved %s\n", o.out);

    if (hold.n > 0) {
        rd_drafter * d = NULL;
        if (rd_drafter_load(o.out, m, &d) != RD_OK) return fail("drafter");
        double tau = 0, tps = 0;
        if (rd_eval_tau(m, d, hold.tokens, hold.offsets, hold.n, 4, p.beam_length, o.tau_tokens, tp.n_threads, &tau, &tps) != RD_OK) return fail("tau");
        fprintf(stderr, "tau on %d held-out prompts (B=4, L=%d, %d new tokens): %.3f (%.1f tok/s)\n", hold.n, p.beam_length, o.tau_tokens, tau, tps);
        rd_drafter_free(d);
    }
    rd_model_free(m);
    return 0;
}
