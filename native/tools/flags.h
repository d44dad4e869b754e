/* flags.h - the settings of the C front ends (redrafter-cli generate, redrafter-distill) in one
 * table: flag, type, help and the field it fills. Defaults are what the library's
 * rd_*_default_params put in those fields, so they agree with src/config.ts (whose test,
 * tests/engine/settings-defaults.test.ts, reads redrafter-cli's usage). */
#ifndef RD_FLAGS_H
#define RD_FLAGS_H

#include "redrafter.h"

#include <stdbool.h>

#define RD_MAX_PROMPT_FILES 8

typedef struct rd_tool_settings {
    rd_model_params   model;   /* --gpu-layers, --device */
    rd_session_params session; /* generate: --beam-width, --beam-length, --ctx-size, --threads, ... */
    rd_sampler_params sampler; /* generate: --temperature, --top-p, --top-k, --seed */
    rd_teacher_params teacher; /* distill: --parallel, --max-new-tokens, --top-k, --threads */
    rd_train_params   train;   /* distill: --beam-length, --draft-vocab, --epochs, --seed, ... */
    const char * target, * drafter, * prompt, * out, * cache_dir, * lib_dir;
    const char * prompts[RD_MAX_PROMPT_FILES];
    int32_t n_prompt_files;
    int32_t limit;         /* prompts used; 0 = all */
    int32_t max_tokens;    /* generate: tokens per prompt */
    int32_t holdout;       /* distill: prompts kept out of training for tau */
    int32_t n_proj;        /* distill: -1 = d for d >= 512, else none */
    int32_t teacher_max_s; /* distill: 0 = no limit */
    int32_t tau_tokens;    /* distill: tokens per held-out prompt */
    bool no_draft, json, chat, fixed_length, resume, teacher_only;
} rd_tool_settings;

/* The library's defaults plus the front ends' own (those of src/config.ts). */
void rd_tool_settings_default(rd_tool_settings * s);

/* Parse argv[first..argc) into s: only the settings named in keys (NULL-terminated) are accepted.
 * Returns 0, or -1 on an unknown option (reported on stderr) or a missing value. */
int  rd_tool_parse(const char * const * keys, int argc, char ** argv, int first, rd_tool_settings * s);

/* usage line, then one line per setting of keys with its default ("--beam-width [1]") */
void rd_tool_usage(const char * usage, const char * const * keys);

#endif
