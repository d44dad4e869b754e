// drafter_graph.h - the drafter's internals shared by drafter_io.cpp (GGUF load/save),
// drafter_graph.cpp (the forward graph) and drafter_beam.cpp (beam search). A trainer reuses the
// same pieces: drafter_tensor_specs() to create its own f32 weights, drafter_build_rnn() and
// drafter_build_head() to build the forward graph over them (every op used has a ggml backward),
// and drafter_save() to write the result.
//
// Shape legend: d = target hidden size, e = head width (n_proj, or 2d without projection),
// V = target vocab, V' = draft vocab, n = columns (beams at inference, positions in training).
// ggml shapes are written [ne0, ne1]; a matrix [in, out] maps in -> out with ggml_mul_mat.
#pragma once

#include "drafter.h"
#include "ggml.h"

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

constexpr int32_t RD_DRAFTER_MAX_LAYERS = 16;
constexpr int32_t RD_DRAFTER_MAX_PROJ   = 16384; // e bound: keeps every size far from overflow

struct drafter_hparams {
    int32_t n_embd        = 0; // d
    int32_t n_vocab       = 0; // V (of the target)
    int32_t n_draft_vocab = 0; // V'
    int32_t n_layers      = 0; // ResBlocks, 0..RD_DRAFTER_MAX_LAYERS
    int32_t n_proj        = 0; // e when > 0; 0 = no input projection (e = 2d)
    int32_t n_head() const { return n_proj > 0 ? n_proj : 2 * n_embd; } // e
};

struct drafter_weights {
    ggml_tensor * rnn_w  = nullptr; // [d, d]   W: token embedding -> state
    ggml_tensor * rnn_u  = nullptr; // [d, d]   U: previous state -> state
    ggml_tensor * rnn_b  = nullptr; // [d]      b (f32)
    ggml_tensor * proj_w = nullptr; // [2d, e]  only when n_proj > 0, no bias
    ggml_tensor * blk_w[RD_DRAFTER_MAX_LAYERS] = {}; // [e, e]  ResBlock i: A
    ggml_tensor * blk_b[RD_DRAFTER_MAX_LAYERS] = {}; // [e]     ResBlock i: a (f32)
    ggml_tensor * lm_head = nullptr; // [e, V'] no bias
};

// One weight tensor of the file: its GGUF name, shape, and where it lives in drafter_weights.
// Matrices may be stored as f32, f16 or q8_0; vectors (biases) are always f32.
struct drafter_tensor_spec {
    std::string    name;
    int64_t        ne0 = 0, ne1 = 1;  // ne1 == 1 for a vector
    bool           matrix = false;
    ggml_tensor ** slot = nullptr;    // in the drafter_weights passed to drafter_tensor_specs
};

// Every weight tensor of a drafter with these hyper-parameters, in file order (draft_vocab.ids,
// the I32 id map, is not a weight and is handled by drafter_io.cpp).
std::vector<drafter_tensor_spec> drafter_tensor_specs(const drafter_hparams & hp, drafter_weights * w);

// One recurrent step: s = SiLU(W emb + U s_prev + b).
// emb, s_prev: [d, n] f32; s_prev == nullptr is the zero initial state s_0 (U is skipped).
// Returns s: [d, n].
ggml_tensor * drafter_build_rnn(ggml_context * ctx, const drafter_weights & w,
                                ggml_tensor * emb, ggml_tensor * s_prev);

// The head: z = [h ; s] -> optional projection -> ResBlocks -> LM head.
// h: [d, 1] (shared by every column) or [d, n]; s: [d, n]. Returns logits [V', n].
ggml_tensor * drafter_build_head(ggml_context * ctx, const drafter_hparams & hp,
                                 const drafter_weights & w, ggml_tensor * h, ggml_tensor * s);
// The same without the LM head: its input [e, n] (the beam search runs the LM head itself on
// the head kernel where it can: drafter_beam.cpp).
ggml_tensor * drafter_build_head_input(ggml_context * ctx, const drafter_hparams & hp,
                                       const drafter_weights & w, ggml_tensor * h, ggml_tensor * s);

// Source of the values drafter_save writes: fill rows [row0, row0 + n_rows) of tensor spec as
// f32 (spec.ne0 floats per row) into dst.
using drafter_fill_fn = std::function<void(const drafter_tensor_spec & spec, int64_t row0,
                                           int64_t n_rows, float * dst)>;

// The weights of a seeded random drafter (rd_drafter_write_random; a trainer starts from them):
// matrices N(0, scale^2 / fan_in) per element, biases 0, the same bits however the rows are
// chunked (drafter_io.cpp).
drafter_fill_fn drafter_random_fill(uint64_t seed, double scale);

// The shape every drafter writer checks (rd_drafter_write_random, rd_trainer_init): n_layers in
// 0..RD_DRAFTER_MAX_LAYERS, n_proj in 0..RD_DRAFTER_MAX_PROJ, an RD_WEIGHTS_* weight_type.
// RD_OK, or RD_ERR_INVALID_ARG with the reason.
rd_status drafter_check_shape(int32_t n_layers, int32_t n_proj, int32_t weight_type);

// Write a drafter GGUF for target m (layout: top of drafter_io.cpp). Matrices are converted to
// weight_type (RD_WEIGHTS_*) row chunk by row chunk, so a 1 GB LM head never sits in memory
// twice. vocab_ids: V' target ids. Validates nothing but I/O: callers check hp and the ids.
rd_status drafter_save(const char * path, const rd_model * m, const drafter_hparams & hp,
                       int32_t weight_type, const int32_t * vocab_ids, const drafter_fill_fn & fill);

// The beam search's graphs and scratch (drafter_beam.cpp); freed before the weights.
struct drafter_runtime;
struct drafter_runtime_deleter {
    void operator()(drafter_runtime * rt) const;
};

struct rd_drafter {
    const rd_model *       m = nullptr;    // borrowed; must outlive the drafter
    drafter_hparams        hp;
    std::vector<int32_t>   vocab_ids;      // [V'] draft index -> target id
    ggml_backend_t         backend = nullptr; // m->dev, or the CPU
    ggml_context *         wctx = nullptr; // weight tensor descriptors
    ggml_backend_buffer_t  wbuf = nullptr; // weight data on the backend
    drafter_weights        w;
    // Sessions may share one drafter (redrafter.h), but the graphs and scratch below are
    // mutable: beam searches on one drafter are serialised by this mutex.
    std::mutex             mu;
    std::unique_ptr<drafter_runtime, drafter_runtime_deleter> rt;

    ~rd_drafter();
};
