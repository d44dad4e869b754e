/* flags.c - the settings table of the C front ends (see flags.h): one row per setting, named as
 * in src/config.ts; two rows may share a flag (--beam-length drafts for generate, trains for
 * distill) when no command lists both. */
#include "flags.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { T_STR, T_STRS, T_INT, T_U32, T_U64, T_F32, T_SWITCH, T_CHOICE } flag_type;

/* the first choice also takes any value not listed, as the tools always have */
typedef struct choice { const char * name; int32_t value; } choice;
static const choice FLASH[]   = { { "auto", -1 }, { "on", 1 }, { "off", 0 }, { NULL, 0 } };
static const choice WEIGHTS[] = { { "f16", RD_WEIGHTS_F16 }, { "f32", RD_WEIGHTS_F32 }, { "q8_0", RD_WEIGHTS_Q8_0 }, { NULL, 0 } };

typedef struct row {
    const char * key, * flag, * alias; /* alias: a second spelling, not shown */
    flag_type type;
    size_t at;                         /* offsetof the field in rd_tool_settings */
    const char * meta, * help;
    const char * shown;                /* the default as help shows it; NULL: the value itself */
    const choice * choices;
} row;

#define AT(f) offsetof(rd_tool_settings, f)
static const row ROWS[] = {
    { "model",          "model",          NULL,           T_STR,    AT(target),               "M",    "target model GGUF", "", NULL },
    { "target",         "target",         "model",        T_STR,    AT(target),               "M",    "target model GGUF", "", NULL },
    { "drafter",        "drafter",        NULL,           T_STR,    AT(drafter),              "D",    "drafter GGUF (none: plain decoding)", "", NULL },
    { "prompt",         "prompt",         NULL,           T_STR,    AT(prompt),               "TEXT", "one prompt", "", NULL },
    { "prompts",        "prompts",        NULL,           T_STRS,   AT(prompts),              "FILE.jsonl", "JSONL prompt file (distill: repeatable)", "", NULL },
    { "limit",          "limit",          NULL,           T_INT,    AT(limit),                "K",    "use K prompts: the first (generate), evenly spread over the files (distill)", "all", NULL },
    { "maxTokens",      "max-tokens",     NULL,           T_INT,    AT(max_tokens),           "N",    "tokens to generate per prompt", NULL, NULL },
    { "temperature",    "temperature",    NULL,           T_F32,    AT(sampler.temperature),  "T",    "sampling temperature; 0 = greedy", NULL, NULL },
    { "topP",           "top-p",          NULL,           T_F32,    AT(sampler.top_p),        "P",    "nucleus sampling; 1 = off", NULL, NULL },
    { "topK",           "top-k",          NULL,           T_INT,    AT(sampler.top_k),        "K",    "top-k sampling; 0 = off", NULL, NULL },
    { "seed",           "seed",           NULL,           T_U32,    AT(sampler.seed),         "S",    "sampling seed", "random", NULL },
    { "beamWidth",      "beam-width",     NULL,           T_INT,    AT(session.beam_width),   "B",    "draft beams per step", NULL, NULL },
    { "beamLength",     "beam-length",    NULL,           T_INT,    AT(session.beam_length),  "L",    "draft tokens per beam", NULL, NULL },
    { "noDraft",        "no-draft",       NULL,           T_SWITCH, AT(no_draft),             NULL,   "plain decoding even with a drafter", NULL, NULL },
    { "fixedLength",    "fixed-length",   NULL,           T_SWITCH, AT(fixed_length),         NULL,   "always draft L tokens (no adaptive length)", NULL, NULL },
    { "ctxSize",        "ctx-size",       NULL,           T_INT,    AT(session.n_ctx),        "N",    "context size; 0 = 4096 capped at the model's", NULL, NULL },
    { "threads",        "threads",        NULL,           T_INT,    AT(session.n_threads),    "N",    "CPU threads; 0 = half the hardware threads", NULL, NULL },
    { "flashAttn",      "flash-attn",     NULL,           T_CHOICE, AT(session.flash_attn),   "auto|on|off", "flash attention", NULL, FLASH },
    { "kvF32",          "kv-f32",         NULL,           T_SWITCH, AT(session.kv_f32),       NULL,   "f32 KV cache instead of f16", NULL, NULL },
    { "gpuLayers",      "gpu-layers",     "n-gpu-layers", T_INT,    AT(model.n_gpu_layers),   "N",    "layers offloaded to the GPU; -1 = all", NULL, NULL },
    { "device",         "device",         NULL,           T_STR,    AT(model.device),         "NAME", "ggml device (CUDA0, Metal, CPU)", "", NULL },
    { "chat",           "chat",           NULL,           T_SWITCH, AT(chat),                 NULL,   "the prompt as one user turn of the chat template", NULL, NULL },
    { "json",           "json",           NULL,           T_SWITCH, AT(json),                 NULL,   "one JSON object per prompt on stdout", NULL, NULL },
    { "out",            "out",            NULL,           T_STR,    AT(out),                  "D.gguf", "drafter GGUF to write (a checkpoint goes to D.gguf.ckpt)", "", NULL },
    { "trainBeamLength","beam-length",    NULL,           T_INT,    AT(train.beam_length),    "L",    "draft steps trained per sample", NULL, NULL },
    { "trainDraftVocab","draft-vocab",    NULL,           T_INT,    AT(train.n_draft_vocab),  "N",    "draft vocabulary size", NULL, NULL },
    { "maxNewTokens",   "max-new-tokens", NULL,           T_INT,    AT(teacher.max_new_tokens), "N",  "teacher answer length cap", NULL, NULL },
    { "epochs",         "epochs",         NULL,           T_INT,    AT(train.epochs),         "E",    "passes over the training samples", NULL, NULL },
    { "initSeed",       "seed",           NULL,           T_U64,    AT(train.seed),           "S",    "initialisation and data order seed", NULL, NULL },
    { "resume",         "resume",         NULL,           T_SWITCH, AT(resume),               NULL,   "continue from D.gguf.ckpt", NULL, NULL },
    { "parallel",       "parallel",       NULL,           T_INT,    AT(teacher.n_parallel),   "P",    "teacher sequences decoded together", NULL, NULL },
    { "distillThreads", "threads",        NULL,           T_INT,    AT(teacher.n_threads),    "N",    "CPU threads; 0 = half the hardware threads", NULL, NULL },
    { "teacherTopK",    "top-k",          NULL,           T_INT,    AT(teacher.top_k),        "K",    "next-token probabilities recorded per position", NULL, NULL },
    { "holdout",        "holdout",        NULL,           T_INT,    AT(holdout),              "H",    "prompts kept out of training for the tau measurement", NULL, NULL },
    { "nProj",          "n-proj",         NULL,           T_INT,    AT(n_proj),               "E",    "input projection 2d -> E (0 = none)", "d for d >= 512", NULL },
    { "nLayers",        "n-layers",       NULL,           T_INT,    AT(train.n_layers),       "N",    "drafter ResBlocks", NULL, NULL },
    { "trainWeights",   "weights",        NULL,           T_CHOICE, AT(train.weight_type),    "f32|f16|q8_0", "drafter weight type", NULL, WEIGHTS },
    { "batch",          "batch",          NULL,           T_INT,    AT(train.batch_size),     "N",    "samples per optimizer step", NULL, NULL },
    { "lr",             "lr",             NULL,           T_F32,    AT(train.lr),             "X",    "peak learning rate", NULL, NULL },
    { "teacherMaxS",    "teacher-max-s",  NULL,           T_INT,    AT(teacher_max_s),        "S",    "stop collecting after S seconds (0 = no limit)", NULL, NULL },
    { "tauTokens",      "tau-tokens",     NULL,           T_INT,    AT(tau_tokens),           "N",    "tokens per held-out prompt for tau", NULL, NULL },
    { "cacheDir",       "cache-dir",      NULL,           T_STR,    AT(cache_dir),            "DIR",  "teacher data cache", NULL, NULL },
    { "teacherOnly",    "teacher-only",   NULL,           T_SWITCH, AT(teacher_only),         NULL,   "collect teacher data, then stop", NULL, NULL },
    { "libDir",         "lib-dir",        NULL,           T_STR,    AT(lib_dir),              "DIR",  "where the ggml backends are", "", NULL },
};
#define N_ROWS (sizeof ROWS / sizeof ROWS[0])

void rd_tool_settings_default(rd_tool_settings * s) {
    memset(s, 0, sizeof *s);
    rd_model_default_params(&s->model);
    rd_session_default_params(&s->session);
    rd_sampler_default_params(&s->sampler);
    rd_teacher_default_params(&s->teacher);
    rd_train_default_params(&s->train);
    s->cache_dir = ".cache/distill";
    s->max_tokens = 128;
    s->holdout = 16;
    s->n_proj = -1;
    s->tau_tokens = 64;
}

static const row * find(const char * const * keys, const char * arg) {
    if (strncmp(arg, "--", 2) != 0) return NULL;
    arg += 2;
    for (const char * const * k = keys; *k; k++) {
        for (size_t i = 0; i < N_ROWS; i++) {
            const row * r = &ROWS[i];
            if (strcmp(r->key, *k) == 0 && (strcmp(r->flag, arg) == 0 || (r->alias && strcmp(r->alias, arg) == 0))) return r;
        }
    }
    return NULL;
}

static const char * choice_name(const choice * c, int32_t v) {
    for (const choice * x = c; x->name; x++) if (x->value == v) return x->name;
    return c->name;
}

static int32_t choice_value(const choice * c, const char * name) {
    for (const choice * x = c; x->name; x++) if (strcmp(x->name, name) == 0) return x->value;
    return c->value;
}

int rd_tool_parse(const char * const * keys, int argc, char ** argv, int first, rd_tool_settings * s) {
    for (int i = first; i < argc; i++) {
        const row * r = find(keys, argv[i]);
        if (!r) { fprintf(stderr, "error: unknown option %s\n", argv[i]); return -1; }
        char * field = (char *) s + r->at;
        if (r->type == T_SWITCH) { *(bool *) field = true; continue; }
        if (i + 1 >= argc) return -1;
        const char * v = argv[++i];
        switch (r->type) {
        case T_STR:    *(const char **) field = v; break;
        case T_STRS:
            if (s->n_prompt_files == RD_MAX_PROMPT_FILES) return -1;
            ((const char **) field)[s->n_prompt_files++] = v;
            break;
        case T_INT:    *(int32_t *) field = atoi(v); break;
        case T_U32:    *(uint32_t *) field = (uint32_t) atoll(v); break;
        case T_U64:    *(uint64_t *) field = (uint64_t) atoll(v); break;
        case T_F32:    *(float *) field = (float) atof(v); break;
        case T_CHOICE: *(int32_t *) field = choice_value(r->choices, v); break;
        case T_SWITCH: break;
        }
    }
    return 0;
}

void rd_tool_usage(const char * usage, const char * const * keys) {
    rd_tool_settings d;
    rd_tool_settings_default(&d);
    fprintf(stderr, "%s\noptions, with their defaults in brackets:\n", usage);
    for (const char * const * k = keys; *k; k++) {
        const row * r = NULL;
        for (size_t i = 0; i < N_ROWS && !r; i++) if (strcmp(ROWS[i].key, *k) == 0) r = &ROWS[i];
        if (!r) continue;
        const char * field = (const char *) &d + r->at;
        char def[64] = "";
        if (r->shown) snprintf(def, sizeof def, "%s", r->shown);
        else switch (r->type) {
            case T_INT:    snprintf(def, sizeof def, "%d", *(const int32_t *) field); break;
            case T_U32:    snprintf(def, sizeof def, "%u", *(const uint32_t *) field); break;
            case T_U64:    snprintf(def, sizeof def, "%llu", (unsigned long long) *(const uint64_t *) field); break;
            case T_F32:    snprintf(def, sizeof def, "%g", *(const float *) field); break;
            case T_CHOICE: snprintf(def, sizeof def, "%s", choice_name(r->choices, *(const int32_t *) field)); break;
            case T_STR:    snprintf(def, sizeof def, "%s", *(const char * const *) field); break;
            default: break;
        }
        char left[64];
        if (def[0])        snprintf(left, sizeof left, "--%s [%s]", r->flag, def);
        else if (r->meta)  snprintf(left, sizeof left, "--%s %s", r->flag, r->meta);
        else               snprintf(left, sizeof left, "--%s", r->flag);
        fprintf(stderr, "  %-26s %s%s%s\n", left, r->meta && def[0] ? r->meta : "", r->meta && def[0] ? ": " : "", r->help);
    }
}
