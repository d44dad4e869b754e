// train.h - the trainer's state shared by train.cpp (data, graphs, AdamW steps, checkpoints)
// and train_eval.cpp (held-out accuracy and KL).
//
// Shape legend: d = target hidden, e = head width, V' = draft vocab, n = batch (samples),
// L = draft steps per sample, K = teacher top-K.
#pragma once

#include "drafter_graph.h"
#include "teacher.h"
#include "ggml-alloc.h"

#include <vector>

// A training sample: teacher sequence seq, position i (h = H_i; step k = 1..L feeds y_{i+k} and
// is scored against P_{i+k}).
struct train_sample {
    int32_t seq;
    int32_t pos;
};

// One batch graph over the shared weights: inputs, per-step logits, and (training only) loss.
struct train_graph {
    ggml_context * ctx = nullptr;
    ggml_cgraph *  gf = nullptr;
    ggml_gallocr_t alloc = nullptr;
    ggml_tensor *  h = nullptr;       // in  [d, n]
    ggml_tensor *  emb = nullptr;     // in  [d, n*L]  step-major: column k*n + j
    ggml_tensor *  target = nullptr;  // in  [V', n*L] (training only)
    ggml_tensor *  logits[RD_MAX_BEAM_LENGTH] = {}; // out [V', n] per step
    ggml_tensor *  loss = nullptr;    // out scalar (training only)
    void release();
    ~train_graph() { release(); }
};

struct rd_trainer {
    rd_model *       m = nullptr;
    rd_train_params  p{};
    drafter_hparams  hp;
    int32_t          L = 0, n = 0;      // beam length, batch
    std::string      teacher_path, ckpt_path;
    teacher_file     data;
    std::vector<int32_t> vocab_ids;     // [V'] draft index -> target id
    std::vector<int32_t> draft_index;   // [V] target id -> draft index, -1 outside
    double           coverage = 0;
    std::vector<train_sample> train, eval;
    // Input scaling: the trainer's weights see E(y) * e_scale and H * h_scale (per dimension,
    // 1 / RMS over the draft vocabulary's embeddings and over the training positions' hidden
    // states); rd_trainer_save folds the scales into rnn.w and proj.w. h_scale is all ones
    // without an input projection (the residual path would carry the scaled h to lm_head).
    std::vector<float> e_scale, h_scale;     // [d]

    ggml_backend_t        backend = nullptr;
    ggml_context *        wctx = nullptr;  // weights, AdamW moments, step params, loss grad
    ggml_backend_buffer_t wbuf = nullptr;
    drafter_weights       w;
    std::vector<drafter_tensor_spec> specs;
    std::vector<ggml_tensor *> m1, m2;     // AdamW moments per spec
    ggml_tensor *         adamw = nullptr; // [7] AdamW parameters of the step
    ggml_tensor *         loss_grad = nullptr;
    train_graph           tg, eg;          // training step, evaluation forward

    int64_t step = 0, steps_per_epoch = 0, total_steps = 0;
    int32_t order_epoch = -1;
    std::vector<int32_t> order;            // permutation of train for order_epoch
    double  loss_sum = 0; int64_t loss_n = 0;
    double  last_lr = 0, busy_ms = 0;
    int64_t samples_run = 0;
    int64_t n_evals = 0;
    double  eval_kl = 0, acc1[RD_MAX_BEAM_LENGTH] = {}, accB[RD_MAX_BEAM_LENGTH] = {};

    // host scratch for one batch
    std::vector<float> h_buf, emb_buf, tgt_buf, row;

    ~rd_trainer();
};

// The teacher's hidden state H_i of sample x (d floats, as recorded: not scaled).
void train_hidden(const rd_trainer * t, const train_sample & x, float * out);

// Fill the inputs of graph g for samples idx[0..n) (n = columns of g; targets when g has them).
void train_fill_batch(rd_trainer * t, train_graph & g, const train_sample * samples, int32_t n);

// Teacher distribution of position pos of seq s restricted to the draft vocab, renormalised,
// mixed with ce_weight of the teacher's own token; written into dst (V' floats, zeroed first
// by the caller). Returns false (dst untouched) when no mass falls inside the draft vocab.
bool train_target_row(const rd_trainer * t, const teacher_seq & s, int32_t pos, float ce_weight, float * dst);

// Evaluate held-out samples: fills t->eval_kl, acc1, accB and bumps n_evals.
rd_status train_evaluate(rd_trainer * t);
