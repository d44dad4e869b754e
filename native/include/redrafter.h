/* redrafter.h - the one public header of libredrafter: ReDrafter speculative decoding
 * (RNN draft head + beam search + dynamic tree attention + lossless acceptance) beside a
 * llama.cpp target model. Plain C; every symbol is rd_*, every enum value RD_*. Long on
 * purpose: the whole API in one header, every field with its unit and default.
 *
 * Shape legend used in comments: B = beam width, L = beam length (draft tokens per beam),
 * d = target hidden size, V = target vocab, V' = draft vocab, N = tree nodes (<= 1 + B*L).
 *
 * Errors: every call that can fail returns an rd_status (0 = RD_OK). The message of the last
 * failure is kept per thread (a failed load has no handle to hang it on) and read with
 * rd_last_error(); it stays valid until the next failing call on the same thread. No C++
 * exception leaves the library: one thrown inside it or inside llama.cpp becomes
 * RD_ERR_INTERNAL (RD_ERR_NO_MEMORY for a failed allocation), or for a call returning a count
 * the failure value its comment names, with the message in rd_last_error().
 *
 * Threads: a handle is used by one thread at a time. rd_session_cancel() is the exception: any
 * thread may call it while another thread runs the session. A model and a drafter may be shared
 * by several sessions (read-only after load) but must outlive them.
 */
#ifndef REDRAFTER_H
#define REDRAFTER_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define RD_API __declspec(dllexport)
#else
#define RD_API __attribute__((visibility("default")))
#endif

typedef enum rd_status {
    RD_OK               = 0,
    RD_ERR_INVALID_ARG  = 1,  /* a parameter is out of range; nothing changed */
    RD_ERR_IO           = 2,  /* file missing, unreadable or unwritable */
    RD_ERR_FORMAT       = 3,  /* file is not a valid GGUF of the expected kind */
    RD_ERR_MISMATCH     = 4,  /* drafter/checkpoint made for another target */
    RD_ERR_CONTEXT_FULL = 5,  /* prompt or generation does not fit the context */
    RD_ERR_DECODE       = 6,  /* llama_decode failed; the session must be reset */
    RD_ERR_GRAMMAR      = 7,  /* the GBNF grammar does not parse or is too large / too deep */
    RD_ERR_CANCELLED    = 8,  /* rd_session_cancel() stopped the call; the session must be reset */
    RD_ERR_STATE        = 9,  /* call not valid in the session's current state */
    RD_ERR_BACKEND      = 10, /* no usable ggml backend / device */
    RD_ERR_NO_MEMORY    = 11, /* an allocation failed (also one thrown inside llama.cpp) */
    RD_ERR_INTERNAL     = 12  /* llama.cpp or the C++ library threw; the message says what. After
                                 this or RD_ERR_NO_MEMORY a session needs rd_session_prefill
                                 again; a teacher or trainer should be freed */
} rd_status;

/* Why generation stopped; reported by each step. */
typedef enum rd_finish {
    RD_FINISH_NONE   = 0, /* not finished, call rd_session_step again */
    RD_FINISH_EOS    = 1, /* the target sampled an end-of-generation token (it is emitted) */
    RD_FINISH_LENGTH = 2, /* max_tokens reached or the context is full */
    RD_FINISH_NO_TOKEN = 3, /* no token is allowed: the grammar is complete while end-of-generation
                               is banned (ignore_eos, logit bias), or every token is banned.
                               Nothing is emitted for it; the tokens before it stand */
} rd_finish;

typedef struct rd_model   rd_model;   /* a target GGUF loaded through llama.cpp */
typedef struct rd_drafter rd_drafter; /* ReDrafter draft-head weights, bound to one target */
typedef struct rd_session rd_session; /* one generation stream: KV cache, sampler, draft state */

/* Message of the last failed call on this thread; "" if none. Borrowed, do not free. */
RD_API const char * rd_last_error(void);

/* Library version string: package.json's version, then the llama.cpp it links, e.g.
 * "0.1.0 (llama.cpp v0.4.0 via node-llama-cpp 3.21.1)". Static, do not free. */
RD_API const char * rd_version(void);

/* Load ggml backends (CPU variants, CUDA, Metal, Vulkan) from the folder holding the ggml
 * shared libraries. Call once before loading any model; dir NULL = the executable's folder.
 * Safe to call again (later calls are no-ops). */
RD_API rd_status rd_backend_init(const char * dir);

/* Silence llama.cpp/ggml logging (quiet = true) or send it to stderr (false, the default). */
RD_API void rd_log_set_quiet(bool quiet);

/* ---------------------------------------------------------------------------------------- */
/* Target model                                                                             */

typedef struct rd_model_params {
    int32_t      n_gpu_layers; /* layers offloaded to the GPU; -1 = all, 0 = CPU only. Default -1 */
    const char * device;       /* ggml device name ("CUDA0", "Metal", "Vulkan0", "CPU");
                                  NULL = llama.cpp's choice. Borrowed during the call. Default NULL */
    bool         use_mmap;     /* map the file instead of reading it. Default true */
    bool         batch_invariant; /* a token's hidden state and logits do not depend on how many
                                  tokens share its llama_decode, so speculative output equals plain
                                  decoding bit for bit on quantized models too, whatever the tree
                                  shapes: weights keep llama.cpp's plain layout (no CPU repacking:
                                  a repacked Q4_0/Q4_K/IQ4_NL weight is multiplied by one kernel
                                  for 4+ tokens and another for fewer, which round apart), and the
                                  load checks that tokens decoded alone and in one batch agree bit
                                  for bit (rd_model_batch_invariance). When they do, every session
                                  of the model runs flash attention on an f16 KV cache (f16 K /
                                  bf16 V with 2+ threads; flash_attn and kv_f32 are ignored) and
                                  verifies one chain per step (one drafter beam, or the copy where
                                  they part), so accepted tokens take the KV cells plain decoding
                                  gives them. When they do not (F32/F16 weight matrices: llamafile's
                                  sgemm from 2 tokens), sessions run as without it. Default true */
} rd_model_params;

RD_API void rd_model_default_params(rd_model_params * p);

/* Load a target GGUF. On success *out owns the model; free with rd_model_free(). */
RD_API rd_status rd_model_load(const char * path, const rd_model_params * p, rd_model ** out);
RD_API void      rd_model_free(rd_model * m); /* NULL is a no-op */

RD_API int32_t rd_model_n_vocab(const rd_model * m);
RD_API int32_t rd_model_n_embd(const rd_model * m);     /* d */
RD_API int32_t rd_model_n_ctx_train(const rd_model * m);
RD_API int32_t rd_model_token_bos(const rd_model * m);  /* -1 if none */
RD_API int32_t rd_model_token_eos(const rd_model * m);  /* -1 if none */
RD_API bool    rd_model_token_is_eog(const rd_model * m, int32_t token);
RD_API bool    rd_model_add_bos(const rd_model * m);    /* does the vocab want BOS prepended */
/* Fill-in-the-middle tokens (prefix, suffix, middle), -1 if the vocab has none; a FIM prompt
 * reads PRE prefix SUF suffix MID, and the model writes the middle. */
RD_API int32_t rd_model_token_fim_pre(const rd_model * m);
RD_API int32_t rd_model_token_fim_suf(const rd_model * m);
RD_API int32_t rd_model_token_fim_mid(const rd_model * m);

/* 64-bit fingerprint of the target: FNV-1a over vocab size, hidden size and every token text.
 * A drafter stores it and is refused by any target with another one. */
RD_API uint64_t rd_model_fingerprint(const rd_model * m);

/* "" when the model runs batch-invariant (rd_model_params.batch_invariant: asked for, and the
 * check at load found tokens decoded one at a time and in one batch bit-identical); otherwise
 * why not, e.g. "5 tokens decoded in one batch differ ... (hidden state max |diff| 2.4e-07, ...)".
 * Borrowed, valid while m lives. */
RD_API const char * rd_model_batch_invariance(const rd_model * m);

/* Copy the GGUF metadata string value of key (e.g. "tokenizer.chat_template",
 * "general.name") into buf (NUL-terminated, truncated to cap). Returns the full length,
 * or -1 if the key is absent (or llama.cpp failed: rd_last_error() says why). */
RD_API int32_t rd_model_meta(const rd_model * m, const char * key, char * buf, int32_t cap);

/* Tokenize text (len bytes, need not be NUL-terminated). add_special: prepend BOS when the
 * model wants it; parse_special: turn "<start_of_turn>" etc. into control tokens.
 * Returns the number of tokens written, or -(needed) when cap is too small (nothing written
 * beyond cap), or INT32_MIN when llama.cpp fails (rd_last_error() says why). */
RD_API int32_t rd_model_tokenize(const rd_model * m, const char * text, int32_t len,
                                 bool add_special, bool parse_special, int32_t * out, int32_t cap);

/* Bytes of one token's text (may be a partial UTF-8 sequence; control tokens render as ""
 * unless special). Returns bytes written, or -(needed) when cap is too small, or
 * -INT32_MAX for a token id out of range, or INT32_MIN when llama.cpp fails. */
RD_API int32_t rd_model_token_to_piece(const rd_model * m, int32_t token, bool special,
                                       char * buf, int32_t cap);

/* ---------------------------------------------------------------------------------------- */
/* Drafter                                                                                  */

typedef struct rd_drafter_init_params {
    int32_t  n_draft_vocab; /* V' (most frequent ids when counts given, else ids 0..V'-1);
                               0 = the whole target vocab. Default 0 */
    int32_t  n_layers;      /* ResBlocks. Default 1 */
    int32_t  n_proj;        /* input projection 2d -> e; 0 = none (e = 2d). Default 0 */
    int32_t  weight_type;   /* RD_WEIGHTS_* for the saved matrices. Default RD_WEIGHTS_F32 */
    uint64_t seed;          /* RNG seed of the random initialisation. Default 42 */
    float    init_scale;    /* std of the N(0, s^2 / fan_in) init; Default 1.0 */
    const int32_t * vocab_ids; /* optional: V' target ids for the draft vocab (borrowed); NULL =
                                  ids 0..V'-1 */
} rd_drafter_init_params;

enum { RD_WEIGHTS_F32 = 0, RD_WEIGHTS_F16 = 1, RD_WEIGHTS_Q8_0 = 2 };

RD_API void rd_drafter_init_default_params(rd_drafter_init_params * p);

/* Write a randomly initialised drafter for target m to path (GGUF, architecture "redrafter",
 * carrying m's fingerprint). */
RD_API rd_status rd_drafter_write_random(const rd_model * m, const rd_drafter_init_params * p,
                                         const char * path);

/* Load a drafter GGUF for target m. Fails with RD_ERR_MISMATCH (message naming both models)
 * when it was made for another target. The drafter runs on the backend that holds the
 * target's output layer. *out is freed with rd_drafter_free(); m must outlive it. */
RD_API rd_status rd_drafter_load(const char * path, const rd_model * m, rd_drafter ** out);
RD_API void      rd_drafter_free(rd_drafter * d); /* NULL is a no-op */
RD_API int32_t   rd_drafter_n_draft_vocab(const rd_drafter * d);
RD_API int32_t   rd_drafter_n_layers(const rd_drafter * d);

/* ---------------------------------------------------------------------------------------- */
/* Session                                                                                  */

typedef struct rd_session_params {
    int32_t n_ctx;        /* context size in tokens; 0 = 4096 capped at the model's train ctx.
                             Default 0 */
    int32_t n_batch;      /* prompt chunk size for prefill, tokens. Default 512 */
    int32_t n_threads;    /* CPU threads; 0 = half the hardware threads. Default 0 */
    int32_t beam_width;   /* B, 1..RD_MAX_BEAMS (also bounds rd_session_step_beams). Default 1 */
    int32_t beam_length;  /* L, 1..RD_MAX_BEAM_LENGTH. Default 4 */
    int32_t flash_attn;   /* -1 auto, 0 off, 1 on; ignored for a batch_invariant model (on).
                             Default -1 */
    bool    kv_f32;       /* f32 KV cache instead of f16; ignored for a batch_invariant model.
                             Default false */
    bool    adaptive;     /* pick the draft length per step (0..L) from the acceptance and
                             verify costs measured so far; output is unchanged. Default true */
    bool    lazy_head;    /* LM head on demand: a tree's decode stops at the final norm and the
                             session runs the output layer only for the nodes the acceptance
                             walk reaches. Used when the whole model is on the CPU and a check
                             at the first session finds its logits bit-identical to llama.cpp's;
                             output is unchanged. Default true */
    int32_t lookup;       /* context copy: when the last tokens occurred before in the prompt
                             or output, up to this many of the tokens that followed them join
                             the tree as one more beam (verified with the drafter's beams, in
                             the same call; also without a drafter). 0 = off, at most
                             RD_MAX_BEAM_LENGTH; the length verified adapts per step. Output is
                             unchanged. Default 16 */
} rd_session_params;

#define RD_MAX_BEAMS        16
#define RD_MAX_BEAM_LENGTH  16

typedef struct rd_sampler_params {
    float   temperature;       /* <= 0 = greedy. Default 0 */
    int32_t top_k;             /* 0 = off. Default 0 */
    float   top_p;             /* 1 = off. Default 1 */
    float   min_p;             /* 0 = off. Default 0 */
    uint32_t seed;             /* RNG seed for temperature > 0. Default 0xFFFFFFFF = random */
    float   repeat_penalty;    /* 1 = off. Default 1 */
    int32_t penalty_last_n;    /* window for the penalties, tokens; -1 = context. Default 64 */
    float   presence_penalty;  /* 0 = off. Default 0 */
    float   frequency_penalty; /* 0 = off. Default 0 */
    const int32_t * logit_bias_tokens; /* n_logit_bias ids (borrowed during the call) */
    const float   * logit_bias_values; /* added to the logits; a value <= -100 (OpenAI's ban) or
                                          -INFINITY bans the token */
    int32_t n_logit_bias;
    const char * grammar;      /* GBNF text, NULL = none (borrowed during the call); at most
                                  RD_MAX_GRAMMAR_BYTES bytes, groups "( )" nested at most
                                  RD_MAX_GRAMMAR_DEPTH deep, at most RD_MAX_GRAMMAR_RULES rules
                                  (llama.cpp parses groups and follows rule references by
                                  recursion), else RD_ERR_GRAMMAR */
    const char * grammar_root; /* root rule name, NULL = "root" */
    bool    ignore_eos;        /* never stop on EOG; EOG tokens are banned. Default false */
    int32_t n_probs;           /* top log-probs to report per emitted token, 0..RD_MAX_PROBS.
                                  Default 0 */
} rd_sampler_params;

#define RD_MAX_PROBS 20
#define RD_MAX_GRAMMAR_BYTES (1 << 20)
#define RD_MAX_GRAMMAR_DEPTH 256
#define RD_MAX_GRAMMAR_RULES 4096

typedef struct rd_step_result {
    /* everything counted for this step only */
    int32_t n_tokens;      /* tokens written to the caller's buffer (>= 1 unless finished;
                              0 when it finished with RD_FINISH_NO_TOKEN at once) */
    int32_t finish;        /* rd_finish */
    int32_t n_drafted;     /* draft tokens proposed (B*L plus the copy beam's, 0 for plain decoding) */
    int32_t n_tree;        /* tree nodes verified in the one target call (1 for plain) */
    int32_t n_accepted;    /* draft tokens accepted (n_tokens - 1 unless cut by max_tokens) */
    int32_t target_calls;  /* target decodes this step stands for: 1, or 0 when finished; the
                              first step after prefill samples the prompt logits (its call) */
    double  t_draft_ms;    /* drafter graph + beam search */
    double  t_verify_ms;   /* the llama_decode of the tree, and the LM head run on demand */
    double  t_other_ms;    /* tree building, acceptance walk, sampling, KV edits */
    int32_t n_head;        /* tree nodes whose LM head ran: n_tree, or with the head on demand
                              (rd_session_params.lazy_head) the nodes the walk reached plus
                              those run with them */
    double  t_head_ms;     /* of t_verify_ms: the LM head run on demand (0 when llama.cpp ran it) */
    int32_t n_copy;        /* of n_drafted: tokens of the context-copy beam (rd_session_params.lookup) */
    int32_t n_copy_accepted; /* of n_accepted: accepted tokens that only the copy beam proposed */
} rd_step_result;

RD_API void rd_session_default_params(rd_session_params * p);
RD_API void rd_sampler_default_params(rd_sampler_params * p);

/* Create a session on target m, drafting with d (NULL = plain decoding only). Both borrowed:
 * they must outlive the session. */
RD_API rd_status rd_session_init(rd_model * m, rd_drafter * d, const rd_session_params * p,
                                 rd_session ** out);
RD_API void      rd_session_free(rd_session * s); /* NULL is a no-op */

RD_API int32_t rd_session_n_ctx(const rd_session * s);
/* Tokens currently held in the KV cache (prompt + accepted generation). */
RD_API int32_t rd_session_n_past(const rd_session * s);
/* KV cells held by each beam sequence, or -1 when the sequences disagree (a stale branch) or
 * the state could not be read.
 * Test hook for KV bookkeeping: it serialises the cache state, so it is slow. */
RD_API int32_t rd_session_kv_cells(const rd_session * s);
/* True when flash attention is on for this session (reported, as it adds float noise). */
RD_API bool    rd_session_flash_attn(const rd_session * s);

/* Start a new generation: clear the cache, set the sampler, decode the prompt (n tokens, in
 * n_batch chunks). RD_ERR_CONTEXT_FULL if n >= n_ctx; RD_ERR_GRAMMAR for a bad grammar;
 * RD_ERR_INVALID_ARG for bad sampler values. On failure the session is empty and reusable.
 * The first rd_session_step() afterwards samples from the prompt's last logits. */
RD_API rd_status rd_session_prefill(rd_session * s, const int32_t * tokens, int32_t n,
                                    const rd_sampler_params * sp);

/* One decoding step: draft (unless draft == false or no drafter), verify in one llama_decode,
 * accept. Writes up to max_tokens tokens to out (and, when n_probs > 0, to logprobs: for each
 * token, [logprob, then n_probs (id, logprob) pairs as floats] = 1 + 2*n_probs floats;
 * logprobs may be NULL). max_tokens >= 1 caps what this step may emit: generation stops
 * exactly there (finish = RD_FINISH_LENGTH is NOT set for it; the caller knows its budget).
 * The result is also valid on failure (counters of work done). */
RD_API rd_status rd_session_step(rd_session * s, bool draft, int32_t max_tokens,
                                 int32_t * out, float * logprobs, rd_step_result * res);

/* Test hook: like rd_session_step but verifies the given beams instead of drafting.
 * beams is B*L target ids (row-major, beam b at beams[b*L .. b*L+L-1]), B <= the session's
 * beam width, L <= its beam length (else RD_ERR_INVALID_ARG, nothing changed). A
 * batch_invariant session verifies beam 0 only. */
RD_API rd_status rd_session_step_beams(rd_session * s, const int32_t * beams, int32_t B,
                                       int32_t L, int32_t max_tokens, int32_t * out,
                                       float * logprobs, rd_step_result * res);

/* Scoring (OpenAI's echo with logprobs): the log-prob of each prompt token after the tokens
 * before it, as rd_session_step reports a generated token's (the session's LM head, the same
 * log-softmax): n - 1 rows of 1 + 2*n_probs floats into out (caller-provided), row i - 1 for
 * tokens[i] (tokens[0] has no context): [logprob, then n_probs (id, logprob) pairs]. Decodes
 * tokens[0 .. n-2] itself and leaves the session empty: rd_session_prefill again to generate.
 * RD_ERR_INVALID_ARG for n < 1, n_probs outside 0..RD_MAX_PROBS, a token outside the vocabulary
 * or out NULL with n > 1; RD_ERR_CONTEXT_FULL for n > n_ctx; RD_ERR_CANCELLED after
 * rd_session_cancel; RD_ERR_DECODE / RD_ERR_BACKEND when llama.cpp or the head fails. */
RD_API rd_status rd_session_prompt_logprobs(rd_session * s, const int32_t * tokens, int32_t n,
                                            int32_t n_probs, float * out);

/* Ask a running prefill/step/scoring on another thread to stop (it returns RD_ERR_CANCELLED).
 * The flag clears at the next rd_session_prefill or rd_session_prompt_logprobs. */
RD_API void rd_session_cancel(rd_session * s);

/* Last-layer hidden state (d floats) that the next step drafts from. Borrowed until the next
 * call on s; NULL before the first prefill. */
RD_API const float * rd_session_hidden(const rd_session * s);

#define RD_MAX_HEAD_COLS 16

/* Benchmark and test hook: the session's own LM head (rd_session_params.lazy_head, when the
 * model passed its check) on k hidden states x (k rows of d floats, 1 <= k <= RD_MAX_HEAD_COLS),
 * writing k rows of V logits to the caller's logits buffer. RD_ERR_STATE when the session runs
 * llama.cpp's head instead; the session's generation state is not touched. */
RD_API rd_status rd_session_head_logits(rd_session * s, const float * x, int32_t k, float * logits);

/* ---------------------------------------------------------------------------------------- */
/* Embeddings (embed.cpp): an input's last hidden states pooled into one unit-length vector  */

typedef struct rd_embedder rd_embedder; /* a llama.cpp context of its own, embeddings on */

/* How an input's hidden states become one vector; the values are llama.cpp's. */
enum {
    RD_POOLING_MODEL = -1, /* the GGUF's <arch>.pooling_type when it names mean, CLS or last
                              (an embedding model), else mean */
    RD_POOLING_MEAN  = 1,  /* the mean over every token */
    RD_POOLING_CLS   = 2,  /* the first token's */
    RD_POOLING_LAST  = 3   /* the last token's */
};

typedef struct rd_embedder_params {
    int32_t n_ctx;     /* longest input, tokens; 0 = 4096 capped at the model's train ctx.
                          Default 0 */
    int32_t n_threads; /* CPU threads; 0 = half the hardware threads. Default 0 */
    int32_t pooling;   /* RD_POOLING_*. Default RD_POOLING_MODEL */
} rd_embedder_params;

RD_API void rd_embedder_default_params(rd_embedder_params * p);

/* An embedder on target m (borrowed: it must outlive the embedder). A model whose GGUF names a
 * pooling type, or whose attention is not causal, is pooled by llama.cpp's own graph (with
 * whatever the embedding model adds after pooling); a generative model's last hidden states
 * (the final norm's output) are pooled by the library. RD_ERR_INVALID_ARG for bad params,
 * RD_ERR_FORMAT for a reranker (pooling type rank) with RD_POOLING_MODEL, RD_ERR_NO_MEMORY when
 * llama.cpp cannot make the context. Free with rd_embedder_free(). */
RD_API rd_status rd_embedder_init(rd_model * m, const rd_embedder_params * p, rd_embedder ** out);
RD_API void      rd_embedder_free(rd_embedder * e); /* NULL is a no-op */

RD_API int32_t rd_embedder_n_ctx(const rd_embedder * e);   /* longest input, tokens */
RD_API int32_t rd_embedder_n_embd(const rd_embedder * e);  /* floats per embedding (d, or an
                                                              embedding model's output size) */
RD_API int32_t rd_embedder_pooling(const rd_embedder * e); /* the RD_POOLING_* in use (never MODEL) */

/* Embed one input of n tokens (as given: add BOS etc. when tokenizing) into out
 * (rd_embedder_n_embd floats, caller-provided), pooled and L2-normalised. RD_ERR_INVALID_ARG
 * for n < 1 or a token outside the vocabulary, RD_ERR_CONTEXT_FULL for n > rd_embedder_n_ctx,
 * RD_ERR_CANCELLED after rd_embedder_cancel, RD_ERR_DECODE when llama.cpp fails. On failure
 * out is unspecified and the embedder stays usable. */
RD_API rd_status rd_embedder_embed(rd_embedder * e, const int32_t * tokens, int32_t n, float * out);

/* Ask a running rd_embedder_embed on another thread to stop (RD_ERR_CANCELLED). The flag
 * clears at the next rd_embedder_embed. */
RD_API void rd_embedder_cancel(rd_embedder * e);


/* ---------------------------------------------------------------------------------------- */
/* Knowledge distillation: teacher data, draft vocabulary, training, evaluation              */
/* (teacher.cpp, train*.cpp; the teacher file format is documented at the top of teacher.cpp */
/* and in docs/distill.md). Long calls are time-sliced: call *_run(.., max_ms, ..) in a loop  */
/* and read the progress it fills until progress.finished != 0.                             */

typedef struct rd_teacher rd_teacher; /* the target answering a prompt pool, recorded to a file */
typedef struct rd_trainer rd_trainer; /* a drafter being trained on a teacher file */

typedef struct rd_teacher_params {
    int32_t n_parallel;     /* P: sequences decoded together in one llama context. Default 8 */
    int32_t max_new_tokens; /* greedy answer length cap per prompt, tokens. Default 128 */
    int32_t top_k;          /* K next-token probabilities recorded per position, 1..32. Default 16 */
    int32_t prompt_tail;    /* last prompt positions recorded too (>= 1: the last prompt token's
                               hidden state starts the first draft). Default 8 */
    int32_t n_ctx_seq;      /* KV cells per sequence; longer prompts are skipped. Default 1024 */
    int32_t n_threads;      /* CPU threads; 0 = half the hardware threads. Default 0 */
} rd_teacher_params;

/* Progress, filled by rd_teacher_run; counts cover the whole file (resumed work included)
 * unless said otherwise. All fields 8 bytes wide for easy reading over FFI. */
typedef struct rd_teacher_progress {
    int64_t n_prompts;    /* prompts given */
    int64_t n_done;       /* prompts answered and on disk */
    int64_t n_skipped;    /* prompts too long for n_ctx_seq */
    int64_t n_resumed;    /* prompts found on disk at init (a previous run) */
    int64_t n_positions;  /* recorded positions on disk */
    int64_t n_tokens_run; /* tokens decoded by this run (prompt + answers) */
    double  elapsed_s;    /* wall time of this run */
    double  tokens_per_s; /* generated tokens per second in this run */
    double  eta_s;        /* estimated seconds left; 0 when finished */
    int64_t finished;     /* 1 when every prompt is on disk and the file is complete */
} rd_teacher_progress;

RD_API void rd_teacher_default_params(rd_teacher_params * p);

/* Render one user message with the target's chat template (llama.cpp's built-in detection of
 * tokenizer.chat_template; when the GGUF has none, Gemma's turn format for gemma*
 * architectures, else ChatML, as the gateway does), ending with the
 * assistant turn's start. Writes a NUL-terminated string into buf; returns its length, or
 * -(needed) when cap is too small, or -1 when llama.cpp does not recognise the template (or
 * fails).
 * For C tools; the gateway renders the Jinja template itself. */
RD_API int32_t rd_model_chat_user_prompt(const rd_model * m, const char * user, char * buf, int32_t cap);

/* Prepare to record the target's greedy answers to n_prompts prompts (already tokenized and
 * chat-templated: prompt i is tokens[offsets[i] .. offsets[i+1]), offsets has n_prompts + 1
 * entries; both borrowed during the call) into path. The file is keyed by the target's
 * fingerprint, the prompts and the settings: when path already holds a file with the same key,
 * its finished prompts are kept (a complete file makes rd_teacher_run finish at once); any
 * other file at path is replaced. RD_ERR_INVALID_ARG for empty prompts or bad params,
 * RD_ERR_IO when path cannot be written. m must outlive *out; free with rd_teacher_free(). */
RD_API rd_status rd_teacher_init(rd_model * m, const rd_teacher_params * p, const int32_t * tokens,
                                 const int64_t * offsets, int32_t n_prompts, const char * path,
                                 rd_teacher ** out);
/* The key rd_teacher_init stores in the file for these prompts and params (p NULL = defaults):
 * callers name cache files by it (e.g. "teacher-%016llx.rdt") so that any front end reuses
 * the same file. offsets must be non-decreasing (0 for bad arguments or a failure). */
RD_API uint64_t rd_teacher_cache_key(const rd_model * m, const rd_teacher_params * p, const int32_t * tokens,
                                     const int64_t * offsets, int32_t n_prompts);

/* Work for about max_ms milliseconds (at least one decode), then fill *progress (may be NULL).
 * The file on disk is valid after every call: an interrupted run resumes with rd_teacher_init. */
RD_API rd_status rd_teacher_run(rd_teacher * t, int32_t max_ms, rd_teacher_progress * progress);
RD_API void      rd_teacher_free(rd_teacher * t); /* NULL is a no-op; the file stays */

/* The n most frequent tokens the teacher produced in the complete teacher file at path
 * (ties: the lower id), written to ids (n entries, caller-provided), most frequent first;
 * filled up with the most frequent input tokens, then the lowest unused ids, when the answers
 * hold fewer than n distinct tokens. *coverage (may be NULL) = share of answer tokens inside.
 * RD_ERR_INVALID_ARG when n is not in 1..V (the target's vocab); RD_ERR_MISMATCH when the file
 * was recorded from another target. */
RD_API rd_status rd_teacher_draft_vocab(const rd_model * m, const char * path, int32_t n,
                                        int32_t * ids, double * coverage);


typedef struct rd_train_params {
    int32_t  beam_length;     /* L: draft steps trained per sample (teacher forcing). Default 4 */
    int32_t  n_draft_vocab;   /* V': the most frequent answer tokens (rd_teacher_draft_vocab);
                                 must be in 1..V. Default 8192 */
    int32_t  n_layers;        /* ResBlocks. Default 1 */
    int32_t  n_proj;          /* input projection 2d -> e; 0 = none. Default 0 */
    int32_t  weight_type;     /* RD_WEIGHTS_* of the saved drafter. Default RD_WEIGHTS_F16 */
    int32_t  epochs;          /* passes over the training samples. Default 2 */
    int32_t  batch_size;      /* samples (positions) per optimizer step. Default 64 */
    float    lr;              /* peak AdamW learning rate. Default 1e-3 */
    float    lr_min_ratio;    /* cosine decay ends at lr * this. Default 0.1 */
    int32_t  warmup_steps;    /* linear warm-up; capped at a tenth of all steps. Default 100 */
    float    weight_decay;    /* AdamW decoupled weight decay. Default 0.01 */
    float    ce_weight;       /* share of cross-entropy on the teacher's own token mixed into the
                                 KL target, 0..1. Default 0.1 */
    float    holdout;         /* share of teacher sequences held out for accuracy, 0..0.5.
                                 Default 0.05 */
    int32_t  eval_beams;      /* B of the top-B accuracy. Default 4 */
    int32_t  max_eval_samples;/* held-out positions evaluated per evaluation. Default 2048 */
    int32_t  checkpoint_every;/* write the checkpoint every this many steps (and at each epoch's
                                 end and the finish); 0 = only those. Default 200 */
    int32_t  n_threads;       /* CPU threads; 0 = half the hardware threads. Default 0 */
    uint64_t seed;            /* initialisation and data order. Default 42 */
    int64_t  max_positions;   /* train on whole training sequences, in a seeded order, up to this
                                 many positions (the held-out ones stay the same); 0 = all.
                                 Default 0 */
} rd_train_params;

/* Progress, filled by rd_trainer_run. acc1/accB/eval_kl are from the latest evaluation
 * (n_evals counts them: one after each epoch). All fields 8 bytes wide. */
typedef struct rd_train_progress {
    int64_t step;             /* optimizer steps done (resumed ones included) */
    int64_t total_steps;
    int64_t epoch;            /* current epoch, 0-based (== epochs when finished) */
    int64_t epochs;
    int64_t n_train_samples;  /* positions with L following ones, per epoch */
    int64_t n_eval_samples;
    double  loss;             /* mean training loss (summed over L steps) since the last call */
    double  lr;               /* learning rate of the last step */
    double  elapsed_s;        /* training wall time of this run (resumed runs start at 0) */
    double  samples_per_s;
    double  eta_s;
    double  coverage;         /* share of answer tokens inside the draft vocabulary */
    int64_t n_evals;
    double  eval_kl;          /* held-out KL(teacher || drafter), summed over the L steps */
    double  acc1[RD_MAX_BEAM_LENGTH]; /* held-out top-1 accuracy of draft step k (k < L) */
    double  accB[RD_MAX_BEAM_LENGTH]; /* held-out top-B (eval_beams) accuracy of draft step k */
    int64_t finished;         /* 1 when every step is done (save with rd_trainer_save) */
} rd_train_progress;

RD_API void rd_train_default_params(rd_train_params * p);

/* Prepare training a drafter for target m on the teacher file at teacher_path (from
 * rd_teacher_run; an incomplete file is used as far as it goes), or on several pooled, their
 * paths separated by newlines. Held out: p->holdout of the prompt indices (the same index in
 * every file), evaluated on their answer positions (on every position when no file holds
 * answers, i.e. only scored texts). Weights start from
 * rd_drafter_write_random's initialisation with p->seed. checkpoint_path (NULL = none) is
 * where checkpoints go (weights, AdamW moments, step, seed); with resume and an existing
 * checkpoint there, training continues from it and ends with the same weights as an
 * uninterrupted run with the same params (same thread count). Errors: RD_ERR_INVALID_ARG (bad
 * params, V' larger than the target's vocab, no training sample), RD_ERR_MISMATCH (teacher file
 * or checkpoint from another target, checkpoint with other settings, or teacher data that grew
 * since the checkpoint), RD_ERR_IO, RD_ERR_FORMAT. m must outlive *out; free with rd_trainer_free(). */
RD_API rd_status rd_trainer_init(rd_model * m, const char * teacher_path, const rd_train_params * p,
                                 const char * checkpoint_path, bool resume, rd_trainer ** out);
/* Train for about max_ms milliseconds or max_steps steps (0 = no step cap), at least one step
 * unless finished; evaluates after each epoch. Fills *progress (may be NULL). */
RD_API rd_status rd_trainer_run(rd_trainer * t, int32_t max_ms, int32_t max_steps, rd_train_progress * progress);
/* Write the checkpoint now (RD_ERR_STATE without a checkpoint path). */
RD_API rd_status rd_trainer_checkpoint(rd_trainer * t);
/* Save the current weights as a drafter GGUF (p->weight_type). RD_ERR_IO when path cannot be
 * written (nothing is left behind). */
RD_API rd_status rd_trainer_save(rd_trainer * t, const char * path);
RD_API void      rd_trainer_free(rd_trainer * t); /* NULL is a no-op */

/* Mean accepted length by real speculative generation: greedy, up to max_new_tokens per
 * prompt (tokens/offsets as in rd_teacher_init), drafter d with beams B x L at every step (no
 * adaptive length: this measures the drafter, not the policy; d NULL = plain decoding, tau = 1;
 * a batch-invariant m verifies beam 0 only, so load it without for B > 1).
 * *tau = tokens generated / target calls; *tokens_per_s may be NULL. */
RD_API rd_status rd_eval_tau(rd_model * m, rd_drafter * d, const int32_t * tokens, const int64_t * offsets,
                             int32_t n_prompts, int32_t B, int32_t L, int32_t max_new_tokens,
                             int32_t n_threads, double * tau, double * tokens_per_s);

#ifdef __cplusplus
}
#endif

#endif /* REDRAFTER_H */
