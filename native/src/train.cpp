// train.cpp - distillation training of a drafter on a teacher file: teacher forcing over L draft
// steps, loss = sum over the steps of the cross-entropy against the teacher's top-K distribution
// restricted to the draft vocabulary (= KL up to the teacher's entropy), optionally mixed with
// its own token; AdamW (ggml_opt_step_adamw) with linear warm-up and cosine decay; checkpoints.
// Over 300 lines because init, steps and checkpoint/resume share one weight list and one data
// order that must agree bit for bit (the held-out evaluation is train_eval.cpp).
//
// Built on ggml autodiff directly (ggml_build_backward_expand + one AdamW node per weight, one
// fixed graph allocated once) rather than ggml-opt's dataset/epoch driver: the inputs here are
// gathered from a memory-mapped teacher file per batch, and a static graph keeps a step to its
// compute time (see docs/distill.md for the measured step times).
//
// Determinism: the data order of epoch e is a splitmix64 Fisher-Yates shuffle seeded by
// (seed, e), so a resumed run at step t rebuilds exactly the batches an uninterrupted run sees.
//
// Sample at (seq, i): h = H_i; draft step k = 1..L feeds y_{i+k} (RNN state s_0 = 0) and is
// scored against P_{i+k}. Shape legend: train.h.
#include "train.h"
#include "ggml-alloc.h"
#include "ggml-backend.h"
#include "gguf.h"
#include "gguf_matrix.h"
#include "hash.h"

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <unistd.h>

static const float ADAM_BETA1 = 0.9f, ADAM_BETA2 = 0.999f, ADAM_EPS = 1e-8f;

void rd_train_default_params(rd_train_params * p) {
    if (!p) return;
    p->beam_length = 4;
    p->n_draft_vocab = 8192;
    p->n_layers = 1;
    p->n_proj = 0;
    p->weight_type = RD_WEIGHTS_F16;
    p->epochs = 2;
    p->batch_size = 64;
    p->lr = 1e-3f;
    p->lr_min_ratio = 0.1f;
    p->warmup_steps = 100;
    p->weight_decay = 0.01f;
    p->ce_weight = 0.1f;
    p->holdout = 0.05f;
    p->eval_beams = 4;
    p->max_eval_samples = 2048;
    p->checkpoint_every = 200;
    p->n_threads = 0;
    p->seed = 42;
    p->max_positions = 0;
}

void train_graph::release() {
    if (alloc) ggml_gallocr_free(alloc);
    if (ctx) ggml_free(ctx);
    alloc = nullptr;
    ctx = nullptr;
}

rd_trainer::~rd_trainer() {
    eg.release(); // the graphs reference the weights and the backend
    tg.release();
    if (wbuf) ggml_backend_buffer_free(wbuf);
    if (wctx) ggml_free(wctx);
    if (backend) ggml_backend_free(backend);
}

void rd_trainer_free(rd_trainer * t) { delete t; }

// ---------------------------------------------------------------------------------------------
// Batches

bool train_target_row(const rd_trainer * t, const teacher_seq & s, int32_t pos, float ce_weight, float * dst) {
    const int32_t K = t->data.top_k;
    const int32_t * ids = s.ids + (size_t) pos * K;
    const float * pr = s.probs + (size_t) pos * K;
    double mass = 0;
    for (int32_t j = 0; j < K; j++)
        if (t->draft_index[(size_t) ids[j]] >= 0) mass += pr[j];
    const int32_t top = t->draft_index[(size_t) ids[0]];
    if (mass <= 0) return false;
    const float kl_w = top >= 0 ? 1.0f - ce_weight : 1.0f;
    for (int32_t j = 0; j < K; j++) {
        const int32_t di = t->draft_index[(size_t) ids[j]];
        if (di >= 0) dst[di] += (float) (kl_w * pr[j] / mass);
    }
    if (top >= 0) dst[top] += ce_weight;
    return true;
}

void train_hidden(const rd_trainer * t, const train_sample & x, float * out) {
    const int32_t d = t->hp.n_embd;
    const teacher_seq & s = t->data.seqs[(size_t) x.seq];
    ggml_fp16_to_fp32_row(reinterpret_cast<const ggml_fp16_t *>(s.hidden) + (size_t) x.pos * d, out, d);
}

void train_fill_batch(rd_trainer * t, train_graph & g, const train_sample * samples, int32_t n) {
    const int32_t d = t->hp.n_embd, L = t->L, V = t->hp.n_draft_vocab;
    const gguf_matrix * E = t->m->embd.get();
    t->h_buf.resize((size_t) d * n);
    t->emb_buf.resize((size_t) d * n * L);
    for (int32_t j = 0; j < n; j++) {
        const teacher_seq & s = t->data.seqs[(size_t) samples[j].seq];
        const int32_t i = samples[j].pos;
        float * h = &t->h_buf[(size_t) j * d];
        train_hidden(t, samples[j], h);
        for (int32_t c = 0; c < d; c++) h[c] *= t->h_scale[(size_t) c];
        for (int32_t k = 0; k < L; k++) {
            float * e = &t->emb_buf[((size_t) k * n + j) * d];
            E->row(s.tokens[i + k + 1], e);
            for (int32_t c = 0; c < d; c++) e[c] *= t->e_scale[(size_t) c];
        }
    }
    ggml_backend_tensor_set(g.h, t->h_buf.data(), 0, sizeof(float) * t->h_buf.size());
    ggml_backend_tensor_set(g.emb, t->emb_buf.data(), 0, sizeof(float) * t->emb_buf.size());
    if (!g.target) return;
    t->tgt_buf.assign((size_t) V * n * L, 0.0f);
    for (int32_t k = 0; k < L; k++)
        for (int32_t j = 0; j < n; j++) {
            const teacher_seq & s = t->data.seqs[(size_t) samples[j].seq];
            // a row with no teacher mass inside V' stays zero: it adds nothing to the loss
            train_target_row(t, s, samples[j].pos + k + 1, t->p.ce_weight, &t->tgt_buf[((size_t) k * n + j) * V]);
        }
    ggml_backend_tensor_set(g.target, t->tgt_buf.data(), 0, sizeof(float) * t->tgt_buf.size());
}

// ---------------------------------------------------------------------------------------------
// Graphs

// Builds the teacher-forced forward graph for n columns (and, when training, the loss, its
// backward and one AdamW step per weight) over t's weights, allocated once.
static rd_status build_graph(rd_trainer * t, train_graph & g, int32_t n, bool training) {
    const int64_t d = t->hp.n_embd, V = t->hp.n_draft_vocab;
    const int32_t L = t->L;
    const size_t graph_size = 8192;
    ggml_init_params ip = { ggml_tensor_overhead() * graph_size * 2 + ggml_graph_overhead_custom(graph_size, training),
                            nullptr, /*no_alloc =*/ true };
    g.ctx = ggml_init(ip);
    if (!g.ctx) return rd_fail(RD_ERR_NO_MEMORY, "trainer: cannot create a graph context");
    ggml_context * ctx = g.ctx;
    g.h = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, d, n);
    g.emb = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, d, (int64_t) n * L);
    ggml_set_input(g.h);
    ggml_set_input(g.emb);
    if (training) {
        g.target = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, V, (int64_t) n * L);
        ggml_set_input(g.target);
    }
    g.gf = ggml_new_graph_custom(ctx, graph_size, training);
    ggml_tensor * s = nullptr;
    for (int32_t k = 0; k < L; k++) {
        ggml_tensor * e_k = ggml_view_2d(ctx, g.emb, d, n, g.emb->nb[1], (size_t) k * n * g.emb->nb[1]);
        s = drafter_build_rnn(ctx, t->w, e_k, s);
        g.logits[k] = drafter_build_head(ctx, t->hp, t->w, g.h, s);
        if (training) {
            ggml_tensor * tk = ggml_view_2d(ctx, g.target, V, n, g.target->nb[1], (size_t) k * n * g.target->nb[1]);
            ggml_tensor * lk = ggml_cross_entropy_loss(ctx, g.logits[k], tk);
            g.loss = g.loss ? ggml_add(ctx, g.loss, lk) : lk;
        } else {
            ggml_set_output(g.logits[k]);
            ggml_build_forward_expand(g.gf, g.logits[k]);
        }
    }
    if (training) {
        ggml_set_output(g.loss);
        ggml_set_loss(g.loss);
        ggml_build_forward_expand(g.gf, g.loss);
        // the loss's gradient accumulator lives with the weights: set to 1 once, never freed
        std::vector<ggml_tensor *> grad_accs((size_t) ggml_graph_n_nodes(g.gf), nullptr);
        for (int i = 0; i < ggml_graph_n_nodes(g.gf); i++)
            if (ggml_graph_node(g.gf, i) == g.loss) grad_accs[(size_t) i] = t->loss_grad;
        ggml_build_backward_expand(ctx, g.gf, grad_accs.data());
        for (size_t i = 0; i < t->specs.size(); i++) {
            ggml_tensor * wt = *t->specs[i].slot;
            ggml_tensor * grad = ggml_graph_get_grad(g.gf, wt);
            if (!grad) return rd_fail(RD_ERR_BACKEND, "trainer: no gradient reaches %s", t->specs[i].name.c_str());
            ggml_build_forward_expand(g.gf, ggml_opt_step_adamw(ctx, wt, grad, t->m1[i], t->m2[i], t->adamw));
        }
    }
    for (int i = 0; i < ggml_graph_n_nodes(g.gf); i++) {
        ggml_tensor * node = ggml_graph_node(g.gf, i);
        if (!ggml_backend_supports_op(t->backend, node))
            return rd_fail(RD_ERR_BACKEND, "trainer: backend %s cannot run %s", ggml_backend_name(t->backend), ggml_op_desc(node));
    }
    g.alloc = ggml_gallocr_new(ggml_backend_get_default_buffer_type(t->backend));
    if (!g.alloc || !ggml_gallocr_alloc_graph(g.alloc, g.gf))
        return rd_fail(RD_ERR_NO_MEMORY, "trainer: cannot allocate the compute buffer for a batch of %d", n);
    return RD_OK;
}

// ---------------------------------------------------------------------------------------------
// Weights: random init (the values of rd_drafter_write_random, so training starts exactly where
// a random drafter of the same seed is), checkpoints.

static rd_status read_gguf_f32(const char * path, rd_trainer * t, const char * prefix, const std::vector<ggml_tensor *> & dst) {
    ggml_context * dctx = nullptr;
    gguf_init_params gp = { /*no_alloc =*/ false, &dctx };
    gguf_context * g = gguf_init_from_file(path, gp);
    if (!g) return rd_fail(RD_ERR_FORMAT, "'%s' is not a valid GGUF file", path);
    rd_status st = RD_OK;
    for (size_t i = 0; i < t->specs.size() && st == RD_OK; i++) {
        const std::string name = prefix + t->specs[i].name;
        ggml_tensor * src = ggml_get_tensor(dctx, name.c_str());
        if (!src || src->type != GGML_TYPE_F32 || ggml_nelements(src) != ggml_nelements(dst[i]))
            st = rd_fail(RD_ERR_FORMAT, "'%s': tensor %s missing or not f32 of the expected shape", path, name.c_str());
        else
            ggml_backend_tensor_set(dst[i], src->data, 0, ggml_nbytes(dst[i]));
    }
    gguf_free(g);
    ggml_free(dctx);
    return st;
}

// The weights rd_drafter_write_random gives a drafter of this seed (at the default init_scale),
// filled straight into the trainer's f32 tensors, a chunk of rows at a time.
static void init_random(rd_trainer * t) {
    rd_drafter_init_params ip;
    rd_drafter_init_default_params(&ip);
    const drafter_fill_fn fill = drafter_random_fill(t->p.seed, ip.init_scale);
    std::vector<float> rows;
    for (const drafter_tensor_spec & s : t->specs) {
        const int64_t chunk = std::max<int64_t>(1, (1 << 20) / s.ne0);
        for (int64_t r0 = 0; r0 < s.ne1; r0 += chunk) {
            const int64_t n = std::min(chunk, s.ne1 - r0);
            rows.resize((size_t) (n * s.ne0));
            fill(s, r0, n, rows.data());
            ggml_backend_tensor_set(*s.slot, rows.data(), (size_t) (r0 * s.ne0) * sizeof(float), rows.size() * sizeof(float));
        }
    }
}

// Per-dimension 1 / RMS of the draft vocabulary's embeddings and (with an input projection) of
// the hidden states at up to 16384 training positions, evenly strided. For Gemma 3 270M the two
// differ by ~100x (embedding rows RMS 0.04, final-norm hidden states RMS 4.6 with single
// dimensions up to ~170): unscaled, the RNN's token input starts near zero and AdamW needs most
// of the run just to grow rnn.w. A pure function of the teacher file and the settings, so a
// resumed run gets the same scales.
static void input_scales(rd_trainer * t) {
    const int32_t d = t->hp.n_embd;
    std::vector<double> sq((size_t) d);
    std::vector<float> row((size_t) d);
    // 1 / RMS per dimension over n rows, each written into row by fetch(i)
    auto scale_of = [&](size_t n, const auto & fetch, std::vector<float> & out) {
        std::fill(sq.begin(), sq.end(), 0.0);
        for (size_t i = 0; i < n; i++) {
            fetch(i);
            for (int32_t c = 0; c < d; c++) sq[(size_t) c] += (double) row[(size_t) c] * row[(size_t) c];
        }
        out.resize((size_t) d);
        for (int32_t c = 0; c < d; c++) out[(size_t) c] = (float) (1.0 / std::max(1e-4, std::sqrt(sq[(size_t) c] / (double) n)));
    };
    scale_of(t->vocab_ids.size(), [&](size_t i) { t->m->embd->row(t->vocab_ids[i], row.data()); }, t->e_scale);
    if (t->hp.n_proj <= 0) {
        t->h_scale.assign((size_t) d, 1.0f);
        return;
    }
    const size_t n = std::min<size_t>(t->train.size(), 16384);
    scale_of(n, [&](size_t j) { train_hidden(t, t->train[j * t->train.size() / n], row.data()); }, t->h_scale);
}

static const char * const CK_ARCH = "redrafter-checkpoint";

rd_status rd_trainer_checkpoint(rd_trainer * t) try {
    if (!t) return rd_fail(RD_ERR_INVALID_ARG, "rd_trainer_checkpoint: trainer is null");
    if (t->ckpt_path.empty()) return rd_fail(RD_ERR_STATE, "the trainer has no checkpoint path");
    gguf_context * g = gguf_init_empty();
    gguf_set_val_str(g, "general.architecture", CK_ARCH);
    gguf_set_val_u64(g, "redrafter.target.fingerprint", t->m->fingerprint);
    gguf_set_val_str(g, "redrafter.target.name", t->m->name.c_str());
    gguf_set_val_u64(g, "redrafter.ckpt.teacher_key", t->data.key);
    gguf_set_val_u64(g, "redrafter.ckpt.step", (uint64_t) t->step);
    gguf_set_val_u64(g, "redrafter.ckpt.n_positions", (uint64_t) t->data.n_positions);
    gguf_set_val_u64(g, "redrafter.ckpt.seed", t->p.seed);
    const int32_t shape[6] = {t->hp.n_draft_vocab, t->hp.n_layers, t->hp.n_proj, t->L, t->n, t->p.epochs};
    gguf_set_arr_data(g, "redrafter.ckpt.shape", GGUF_TYPE_INT32, shape, 6);
    gguf_set_val_f32(g, "redrafter.ckpt.lr", t->p.lr);
    // host copies of everything (the weights may live on a device)
    const size_t n_t = t->specs.size() * 3 + 1;
    size_t bytes = ggml_tensor_overhead() * n_t + sizeof(int32_t) * t->vocab_ids.size() + 64;
    for (auto & s : t->specs) bytes += 3 * (ggml_nbytes(*s.slot) + 64);
    ggml_init_params ip = { bytes, nullptr, false };
    ggml_context * hctx = ggml_init(ip);
    if (!hctx) { gguf_free(g); return rd_fail(RD_ERR_NO_MEMORY, "cannot allocate the checkpoint"); }
    for (size_t i = 0; i < t->specs.size(); i++) {
        ggml_tensor * srcs[3] = {*t->specs[i].slot, t->m1[i], t->m2[i]};
        const char * pre[3] = {"", "adam.m.", "adam.v."};
        for (int j = 0; j < 3; j++) {
            ggml_tensor * c = ggml_dup_tensor(hctx, srcs[j]);
            ggml_set_name(c, (std::string(pre[j]) + t->specs[i].name).c_str());
            ggml_backend_tensor_get(srcs[j], c->data, 0, ggml_nbytes(c));
            gguf_add_tensor(g, c);
        }
    }
    ggml_tensor * ids = ggml_new_tensor_1d(hctx, GGML_TYPE_I32, (int64_t) t->vocab_ids.size());
    ggml_set_name(ids, "draft_vocab.ids");
    memcpy(ids->data, t->vocab_ids.data(), ggml_nbytes(ids));
    gguf_add_tensor(g, ids);
    // write next to it, then rename: a crash mid-write never destroys the previous checkpoint
    const std::string tmp = t->ckpt_path + ".tmp";
    const bool ok = gguf_write_to_file(g, tmp.c_str(), false);
    gguf_free(g);
    ggml_free(hctx);
    if (!ok || rename(tmp.c_str(), t->ckpt_path.c_str()) != 0) {
        remove(tmp.c_str());
        return rd_fail(RD_ERR_IO, "cannot write checkpoint '%s'", t->ckpt_path.c_str());
    }
    return RD_OK;
} catch (...) { return rd_caught(__func__); }

static rd_status load_checkpoint(rd_trainer * t) {
    const char * path = t->ckpt_path.c_str();
    gguf_init_params gp = { true, nullptr };
    gguf_context * g = gguf_init_from_file(path, gp);
    if (!g) return rd_fail(RD_ERR_FORMAT, "checkpoint '%s' is not a valid GGUF file", path);
    auto u64 = [g](const char * k, uint64_t * v) {
        const int64_t id = gguf_find_key(g, k);
        if (id < 0 || gguf_get_kv_type(g, id) != GGUF_TYPE_UINT64) return false;
        *v = gguf_get_val_u64(g, id);
        return true;
    };
    uint64_t fp = 0, key = 0, step = 0, seed = 0, n_pos = 0;
    const int64_t arch = gguf_find_key(g, "general.architecture");
    const int64_t shp = gguf_find_key(g, "redrafter.ckpt.shape");
    const int64_t nm = gguf_find_key(g, "redrafter.target.name");
    rd_status st = RD_OK;
    if (arch < 0 || gguf_get_kv_type(g, arch) != GGUF_TYPE_STRING || strcmp(gguf_get_val_str(g, arch), CK_ARCH) != 0 ||
        !u64("redrafter.target.fingerprint", &fp) || !u64("redrafter.ckpt.teacher_key", &key) ||
        !u64("redrafter.ckpt.step", &step) || !u64("redrafter.ckpt.seed", &seed) ||
        !u64("redrafter.ckpt.n_positions", &n_pos) || shp < 0 ||
        gguf_get_arr_n(g, shp) != 6 || gguf_get_arr_type(g, shp) != GGUF_TYPE_INT32) {
        st = rd_fail(RD_ERR_FORMAT, "'%s' is not a redrafter training checkpoint", path);
    } else if (fp != t->m->fingerprint) {
        st = rd_fail(RD_ERR_MISMATCH, "checkpoint '%s' was made for target '%s' (fingerprint %016" PRIx64 "), not '%s' (%016" PRIx64 ")",
                     path, nm >= 0 ? gguf_get_val_str(g, nm) : "?", fp, t->m->name.c_str(), t->m->fingerprint);
    } else {
        const int32_t * shape = static_cast<const int32_t *>(gguf_get_arr_data(g, shp));
        const int32_t want[6] = {t->hp.n_draft_vocab, t->hp.n_layers, t->hp.n_proj, t->L, t->n, t->p.epochs};
        if (memcmp(shape, want, sizeof want) != 0 || seed != t->p.seed || key != t->data.key)
            st = rd_fail(RD_ERR_MISMATCH, "checkpoint '%s' was made with other settings or teacher data (draft vocab, layers, "
                         "projection, beam length, batch, epochs, seed): resume with the same ones", path);
        else if (n_pos != (uint64_t) t->data.n_positions)
            st = rd_fail(RD_ERR_MISMATCH, "teacher file '%s' changed since checkpoint '%s' was written (%" PRIu64 " positions then, %" PRId64 " now)",
                         t->teacher_path.c_str(), path, n_pos, t->data.n_positions);
        else if (step > (uint64_t) t->total_steps)
            st = rd_fail(RD_ERR_FORMAT, "checkpoint '%s' is at step %" PRIu64 " of %" PRId64, path, step, t->total_steps);
    }
    gguf_free(g);
    if (st != RD_OK) return st;
    std::vector<ggml_tensor *> w, a, b;
    for (size_t i = 0; i < t->specs.size(); i++) { w.push_back(*t->specs[i].slot); a.push_back(t->m1[i]); b.push_back(t->m2[i]); }
    if ((st = read_gguf_f32(path, t, "", w)) != RD_OK) return st;
    if ((st = read_gguf_f32(path, t, "adam.m.", a)) != RD_OK) return st;
    if ((st = read_gguf_f32(path, t, "adam.v.", b)) != RD_OK) return st;
    t->step = (int64_t) step;
    return RD_OK;
}

// ---------------------------------------------------------------------------------------------
// Init

rd_status rd_trainer_init(rd_model * m, const char * teacher_path, const rd_train_params * p,
                          const char * checkpoint_path, bool resume, rd_trainer ** out) try {
    if (!m || !teacher_path || !out) return rd_fail(RD_ERR_INVALID_ARG, "rd_trainer_init: model, teacher_path and out are required");
    *out = nullptr;
    rd_train_params defaults;
    rd_train_default_params(&defaults);
    if (!p) p = &defaults;
    if (p->beam_length < 1 || p->beam_length > RD_MAX_BEAM_LENGTH)
        return rd_fail(RD_ERR_INVALID_ARG, "beam length %d out of range 1..%d", p->beam_length, RD_MAX_BEAM_LENGTH);
    if (p->n_draft_vocab < 1 || p->n_draft_vocab > m->n_vocab)
        return rd_fail(RD_ERR_INVALID_ARG, "draft vocabulary of %d tokens is not in 1..%d (the target's vocab)", p->n_draft_vocab, m->n_vocab);
    if (rd_status st = drafter_check_shape(p->n_layers, p->n_proj, p->weight_type); st != RD_OK) return st;
    if (p->epochs < 1 || p->batch_size < 1 || p->eval_beams < 1 || p->eval_beams > RD_MAX_BEAMS || p->max_eval_samples < 0 ||
        p->checkpoint_every < 0 || p->n_threads < 0 || p->warmup_steps < 0)
        return rd_fail(RD_ERR_INVALID_ARG, "epochs, batch_size, eval_beams (1..%d) must be >= 1; max_eval_samples, checkpoint_every, warmup_steps, n_threads >= 0", RD_MAX_BEAMS);
    if (!(p->lr > 0) || !(p->lr_min_ratio >= 0 && p->lr_min_ratio <= 1) || !(p->weight_decay >= 0 && p->weight_decay <= 1) ||
        !(p->ce_weight >= 0 && p->ce_weight <= 1) || !(p->holdout >= 0 && p->holdout <= 0.5f))
        return rd_fail(RD_ERR_INVALID_ARG, "lr > 0, lr_min_ratio, weight_decay, ce_weight in 0..1 and holdout in 0..0.5 are required");

    auto t = std::make_unique<rd_trainer>();
    t->m = m;
    t->p = *p;
    t->L = p->beam_length;
    t->teacher_path = teacher_path;
    if (checkpoint_path) t->ckpt_path = checkpoint_path;
    if (p->max_positions < 0) return rd_fail(RD_ERR_INVALID_ARG, "max_positions must be >= 0");
    {
        // one path, or several separated by newlines: their sequences are pooled
        std::string paths = teacher_path;
        size_t a = 0;
        for (bool first = true; a <= paths.size(); first = false) {
            const size_t b = std::min(paths.find('\n', a), paths.size());
            const std::string one = paths.substr(a, b - a);
            a = b + 1;
            if (one.empty()) return rd_fail(RD_ERR_INVALID_ARG, "an empty teacher file path in '%s'", teacher_path);
            if (rd_status st = first ? teacher_file_open(one.c_str(), true, &t->data) : teacher_file_add(one.c_str(), true, &t->data); st != RD_OK)
                return st;
        }
    }
    if (t->data.fingerprint != m->fingerprint || t->data.n_vocab != m->n_vocab || t->data.n_embd != m->n_embd)
        return rd_fail(RD_ERR_MISMATCH, "teacher file '%s' was recorded from another target than '%s'", teacher_path, m->name.c_str());

    // draft vocabulary: most frequent answer tokens (the file may still be incomplete)
    t->vocab_ids.resize((size_t) p->n_draft_vocab);
    teacher_draft_vocab(t->data, p->n_draft_vocab, t->vocab_ids.data(), &t->coverage);
    t->draft_index.assign((size_t) m->n_vocab, -1);
    for (int32_t i = 0; i < p->n_draft_vocab; i++) t->draft_index[(size_t) t->vocab_ids[(size_t) i]] = i;

    // samples: every position with L following ones; held-out sequences by a seeded hash of the
    // prompt index (so a prompt's answer and its scored text are held out together), evaluated
    // on their answers when there are any; training sequences in a seeded order up to
    // max_positions
    const int32_t n_seqs = (int32_t) t->data.seqs.size();
    bool any_answer = false;
    for (const teacher_seq & s : t->data.seqs) any_answer = any_answer || teacher_seq_has_answer(s);
    std::vector<int32_t> train_seqs;
    for (int32_t si = 0; si < n_seqs; si++) {
        const teacher_seq & s = t->data.seqs[(size_t) si];
        uint64_t st = p->seed ^ (0xA5A5A5A5ull + (uint64_t) s.prompt);
        if ((double) (rd_splitmix64(&st) >> 11) * 0x1.0p-53 >= (double) p->holdout) { train_seqs.push_back(si); continue; }
        const int32_t i0 = any_answer ? std::max(0, s.n_tail - 1) : 0;
        for (int32_t i = i0; i + t->L < s.n; i++) t->eval.push_back({si, i});
    }
    if (p->max_positions > 0) {
        t->data.key = rd_fnv1a(t->data.key, &p->max_positions, sizeof p->max_positions); // a checkpoint names its data
        uint64_t st = p->seed ^ 0x5EED5E0Full;
        for (size_t i = train_seqs.size(); i > 1; i--) std::swap(train_seqs[i - 1], train_seqs[(size_t) (rd_splitmix64(&st) % i)]);
        int64_t kept = 0;
        size_t n_keep = 0;
        while (n_keep < train_seqs.size() && kept < p->max_positions) kept += t->data.seqs[(size_t) train_seqs[n_keep++]].n;
        train_seqs.resize(n_keep);
        std::sort(train_seqs.begin(), train_seqs.end());
    }
    for (int32_t si : train_seqs)
        for (int32_t i = 0; i + t->L < t->data.seqs[(size_t) si].n; i++) t->train.push_back({si, i});
    if (t->train.empty())
        return rd_fail(RD_ERR_INVALID_ARG, "teacher file '%s' holds no training sample (answers shorter than %d + 1 tokens?)", teacher_path, t->L);
    if (t->eval.size() > (size_t) p->max_eval_samples) {
        // an even stride over the held-out positions, not just the first sequences
        std::vector<train_sample> pick;
        for (int32_t i = 0; i < p->max_eval_samples; i++) pick.push_back(t->eval[(size_t) i * t->eval.size() / (size_t) p->max_eval_samples]);
        t->eval.swap(pick);
    }
    t->n = (int32_t) std::min<size_t>((size_t) p->batch_size, t->train.size());
    t->steps_per_epoch = (int64_t) (t->train.size() / (size_t) t->n);
    t->total_steps = t->steps_per_epoch * p->epochs;

    t->hp.n_embd = m->n_embd;
    t->hp.n_vocab = m->n_vocab;
    t->hp.n_draft_vocab = p->n_draft_vocab;
    t->hp.n_layers = p->n_layers;
    t->hp.n_proj = p->n_proj;
    input_scales(t.get());

    ggml_backend_dev_t dev = m->dev ? m->dev : ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU);
    if (!dev) return rd_fail(RD_ERR_BACKEND, "no ggml device to train on (was rd_backend_init called?)");
    t->backend = ggml_backend_dev_init(dev, nullptr);
    if (!t->backend) return rd_fail(RD_ERR_BACKEND, "cannot initialise ggml device %s", ggml_backend_dev_name(dev));
    {
        const int32_t threads = p->n_threads > 0 ? p->n_threads : rd_default_threads();
        ggml_backend_reg_t reg = ggml_backend_dev_backend_reg(dev);
        auto set = (ggml_backend_set_n_threads_t) ggml_backend_reg_get_proc_address(reg, "ggml_backend_set_n_threads");
        if (set) set(t->backend, threads);
    }

    t->specs = drafter_tensor_specs(t->hp, &t->w);
    ggml_init_params ip = { ggml_tensor_overhead() * (t->specs.size() * 3 + 4), nullptr, true };
    t->wctx = ggml_init(ip);
    if (!t->wctx) return rd_fail(RD_ERR_NO_MEMORY, "trainer: cannot create the weight context");
    for (auto & s : t->specs) {
        ggml_tensor * wt = s.matrix ? ggml_new_tensor_2d(t->wctx, GGML_TYPE_F32, s.ne0, s.ne1) : ggml_new_tensor_1d(t->wctx, GGML_TYPE_F32, s.ne0);
        ggml_set_name(wt, s.name.c_str());
        ggml_set_param(wt);
        *s.slot = wt;
        t->m1.push_back(ggml_dup_tensor(t->wctx, wt));
        t->m2.push_back(ggml_dup_tensor(t->wctx, wt));
    }
    t->adamw = ggml_new_tensor_1d(t->wctx, GGML_TYPE_F32, 7);
    t->loss_grad = ggml_new_tensor_1d(t->wctx, GGML_TYPE_F32, 1);
    t->wbuf = ggml_backend_alloc_ctx_tensors(t->wctx, t->backend);
    if (!t->wbuf) return rd_fail(RD_ERR_NO_MEMORY, "trainer: cannot allocate the weights on %s", ggml_backend_name(t->backend));
    ggml_backend_buffer_clear(t->wbuf, 0);
    const float one = 1.0f;
    ggml_backend_tensor_set(t->loss_grad, &one, 0, sizeof one);

    init_random(t.get());
    if (resume && !t->ckpt_path.empty() && access(t->ckpt_path.c_str(), F_OK) == 0)
        if (rd_status st = load_checkpoint(t.get()); st != RD_OK) return st;

    if (rd_status st = build_graph(t.get(), t->tg, t->n, true); st != RD_OK) return st;
    if (!t->eval.empty())
        if (rd_status st = build_graph(t.get(), t->eg, (int32_t) std::min<size_t>(t->eval.size(), 256), false); st != RD_OK) return st;
    *out = t.release();
    return RD_OK;
} catch (...) { return rd_caught(__func__); }

// ---------------------------------------------------------------------------------------------
// Steps

static double lr_at(const rd_trainer * t, int64_t it) { // it = 1-based step
    const int64_t warm = std::min<int64_t>(t->p.warmup_steps, t->total_steps / 10);
    if (warm > 0 && it <= warm) return t->p.lr * (double) it / (double) warm;
    const double span = (double) std::max<int64_t>(1, t->total_steps - warm);
    const double x = std::min(1.0, (double) (it - warm) / span);
    const double lo = t->p.lr * t->p.lr_min_ratio;
    return lo + (t->p.lr - lo) * 0.5 * (1.0 + std::cos(3.14159265358979323846 * x));
}

static void ensure_order(rd_trainer * t, int32_t epoch) {
    if (t->order_epoch == epoch) return;
    t->order.resize(t->train.size());
    for (size_t i = 0; i < t->order.size(); i++) t->order[i] = (int32_t) i;
    uint64_t st = t->p.seed * 0x9E3779B97F4A7C15ull + (uint64_t) epoch + 1;
    for (size_t i = t->order.size(); i > 1; i--) {
        const size_t j = (size_t) (rd_splitmix64(&st) % i);
        std::swap(t->order[i - 1], t->order[j]);
    }
    t->order_epoch = epoch;
}

static rd_status train_step(rd_trainer * t) {
    const int32_t epoch = (int32_t) (t->step / t->steps_per_epoch);
    const int64_t b = t->step % t->steps_per_epoch;
    ensure_order(t, epoch);
    std::vector<train_sample> batch((size_t) t->n);
    for (int32_t j = 0; j < t->n; j++) batch[(size_t) j] = t->train[(size_t) t->order[(size_t) (b * t->n + j)]];
    train_fill_batch(t, t->tg, batch.data(), t->n);

    const int64_t it = t->step + 1;
    const double lr = lr_at(t, it);
    const float params[7] = {(float) lr, ADAM_BETA1, ADAM_BETA2, ADAM_EPS, t->p.weight_decay,
                             (float) (1.0 / (1.0 - std::pow((double) ADAM_BETA1, (double) it))),
                             (float) (1.0 / (1.0 - std::pow((double) ADAM_BETA2, (double) it)))};
    ggml_backend_tensor_set(t->adamw, params, 0, sizeof params);
    if (ggml_backend_graph_compute(t->backend, t->tg.gf) != GGML_STATUS_SUCCESS)
        return rd_fail(RD_ERR_BACKEND, "trainer: graph compute failed on %s", ggml_backend_name(t->backend));
    float loss = 0;
    ggml_backend_tensor_get(t->tg.loss, &loss, 0, sizeof loss);
    if (!std::isfinite(loss)) return rd_fail(RD_ERR_BACKEND, "trainer: the loss diverged (%g) at step %" PRId64 "; lower the learning rate", (double) loss, it);
    t->loss_sum += loss;
    t->loss_n++;
    t->last_lr = lr;
    t->step++;
    t->samples_run += t->n;
    return RD_OK;
}

rd_status rd_trainer_run(rd_trainer * t, int32_t max_ms, int32_t max_steps, rd_train_progress * pr) try {
    if (!t) return rd_fail(RD_ERR_INVALID_ARG, "rd_trainer_run: trainer is null");
    const double t0 = rd_now_ms();
    rd_status st = RD_OK;
    int32_t done = 0;
    t->loss_sum = 0;
    t->loss_n = 0;
    while (t->step < t->total_steps && (done == 0 || ((max_steps <= 0 || done < max_steps) && rd_now_ms() - t0 < max_ms))) {
        if ((st = train_step(t)) != RD_OK) break;
        done++;
        const bool epoch_end = t->step % t->steps_per_epoch == 0;
        if (epoch_end && !t->eval.empty() && (st = train_evaluate(t)) != RD_OK) break;
        if (!t->ckpt_path.empty() && (epoch_end || (t->p.checkpoint_every > 0 && t->step % t->p.checkpoint_every == 0)))
            if ((st = rd_trainer_checkpoint(t)) != RD_OK) break;
    }
    t->busy_ms += rd_now_ms() - t0;
    if (pr) {
        pr->step = t->step;
        pr->total_steps = t->total_steps;
        pr->epoch = t->step / t->steps_per_epoch;
        pr->epochs = t->p.epochs;
        pr->n_train_samples = (int64_t) t->train.size();
        pr->n_eval_samples = (int64_t) t->eval.size();
        pr->loss = t->loss_n > 0 ? t->loss_sum / (double) t->loss_n : 0.0;
        pr->lr = t->last_lr;
        pr->elapsed_s = t->busy_ms / 1000.0;
        pr->samples_per_s = t->busy_ms > 0 ? (double) t->samples_run / (t->busy_ms / 1000.0) : 0.0;
        pr->eta_s = pr->samples_per_s > 0 ? (double) ((t->total_steps - t->step) * t->n) / pr->samples_per_s : -1.0;
        pr->coverage = t->coverage;
        pr->n_evals = t->n_evals;
        pr->eval_kl = t->eval_kl;
        for (int32_t k = 0; k < RD_MAX_BEAM_LENGTH; k++) { pr->acc1[k] = t->acc1[k]; pr->accB[k] = t->accB[k]; }
        pr->finished = t->step >= t->total_steps ? 1 : 0;
    }
    return st;
} catch (...) { return rd_caught(__func__); }

rd_status rd_trainer_save(rd_trainer * t, const char * path) try {
    if (!t || !path) return rd_fail(RD_ERR_INVALID_ARG, "rd_trainer_save: trainer and path are required");
    auto fill = [&](const drafter_tensor_spec & s, int64_t row0, int64_t n_rows, float * dst) {
        ggml_tensor * wt = nullptr;
        for (auto & own : t->specs) if (own.name == s.name) wt = *own.slot;
        ggml_backend_tensor_get(wt, dst, (size_t) row0 * wt->nb[1], sizeof(float) * (size_t) (n_rows * s.ne0));
        // fold the input scales (train.h): W (x * scale) = (W diag(scale)) x
        const std::vector<float> * scale = s.name == "rnn.w" ? &t->e_scale : s.name == "proj.w" ? &t->h_scale : nullptr;
        if (scale)
            for (int64_t r = 0; r < n_rows; r++)
                for (size_t c = 0; c < scale->size(); c++) dst[r * s.ne0 + (int64_t) c] *= (*scale)[c];
    };
    return drafter_save(path, t->m, t->hp, t->p.weight_type, t->vocab_ids.data(), fill);
} catch (...) { return rd_caught(__func__); }
