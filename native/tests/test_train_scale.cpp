// test_train_scale.cpp - the trainer's input scaling (train.h): during training the weights see
// E(y) * e_scale and H * h_scale, per dimension 1 / RMS; the saved drafter has the scales folded
// into rnn.w and proj.w, so a loaded drafter must give the trainer's own distribution for the
// unscaled inputs. Internal test (trainer and beam search are not in the public header).
//
// Checks on the tiny model, with an input projection (so both scales apply):
//   the scaled inputs have RMS 1 per dimension (embeddings over the draft vocabulary, hidden
//   states over the training positions the scale was measured on);
//   after a few training steps, for held-out positions, the trainer's evaluation graph and the
//   saved-then-loaded f32 drafter (one beam, one step, from the unscaled H_i and y_{i+1}) agree
//   on the top draft token and its log-probability (1e-4);
//   without an input projection h_scale is all ones.
#include "harness.h"
#include "drafter.h"
#include "gguf_matrix.h"
#include "train.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

static const char * const F_TEACHER = "test_train_scale.rdt";
static const char * const F_OUT     = "test_train_scale.gguf";
static const int N_PROMPTS = 24;

static bool collect(rd_model * m, char ** texts) {
    std::vector<int32_t> tokens;
    std::vector<int64_t> offsets{0};
    for (int i = 0; i < N_PROMPTS; i++) {
        int32_t buf[64];
        int32_t k = rd_model_tokenize(m, texts[i], (int32_t) strlen(texts[i]), true, false, buf, 64);
        if (k <= 0) buf[0] = 1, k = 1; // too long for buf (negative) or empty: one token
        tokens.insert(tokens.end(), buf, buf + std::min(k, 32));
        offsets.push_back((int64_t) tokens.size());
    }
    rd_teacher_params tp;
    rd_teacher_default_params(&tp);
    tp.n_parallel = 8;
    tp.max_new_tokens = 24;
    tp.top_k = 8;
    tp.n_ctx_seq = 64;
    tp.n_threads = 1;
    remove(F_TEACHER);
    rd_teacher * t = nullptr;
    if (!CHECK_OK(rd_teacher_init(m, &tp, tokens.data(), offsets.data(), N_PROMPTS, F_TEACHER, &t))) return false;
    rd_teacher_progress pr{};
    do {
        if (!CHECK_OK(rd_teacher_run(t, 1000, &pr))) break;
    } while (!pr.finished);
    rd_teacher_free(t);
    return CHECK(pr.finished == 1, "teacher collection did not finish");
}

static void params(rd_train_params * p, int32_t n_proj) {
    rd_train_default_params(p);
    p->beam_length = 2;
    p->n_draft_vocab = 128;
    p->n_proj = n_proj;
    p->weight_type = RD_WEIGHTS_F32;
    p->batch_size = 16;
    p->epochs = 1;
    p->lr = 3e-3f;
    p->holdout = 0.2f;
    p->checkpoint_every = 0;
    p->n_threads = 1;
}

// RMS over rows of (x * scale) per dimension must be 1.
static void check_unit_rms(const std::vector<std::vector<float>> & rows, const std::vector<float> & scale, const char * what) {
    double worst = 0;
    for (size_t c = 0; c < scale.size(); c++) {
        double sq = 0;
        for (const auto & r : rows) sq += (double) r[c] * scale[c] * r[c] * scale[c];
        worst = std::max(worst, std::fabs(std::sqrt(sq / (double) rows.size()) - 1.0));
    }
    printf("%s: max |RMS - 1| over %zu dimensions %.2e\n", what, scale.size(), worst);
    CHECK(worst < 1e-3, "%s: scaled RMS off by %g", what, worst);
}

int main() {
    rd_model * m = rd_test_open_model();
    char ** texts = nullptr;
    const int n_texts = rd_test_read_prompts(N_PROMPTS, &texts);
    if (!m || !CHECK(n_texts == N_PROMPTS, "need %d prompts", N_PROMPTS) || !collect(m, texts)) return rd_test_done();
    const int32_t d = rd_model_n_embd(m);

    rd_train_params p;
    params(&p, d);
    rd_trainer * t = nullptr;
    if (!CHECK_OK(rd_trainer_init(m, F_TEACHER, &p, nullptr, false, &t))) return rd_test_done();

    // the scales: unit RMS on what they were measured on
    {
        std::vector<std::vector<float>> rows;
        for (int32_t id : t->vocab_ids) {
            rows.emplace_back((size_t) d);
            t->m->embd->row(id, rows.back().data());
        }
        check_unit_rms(rows, t->e_scale, "embeddings");
        rows.clear();
        const size_t n = std::min<size_t>(t->train.size(), 16384);
        for (size_t j = 0; j < n; j++) {
            const train_sample & x = t->train[j * t->train.size() / n];
            rows.emplace_back((size_t) d);
            train_hidden(t, x, rows.back().data());
        }
        check_unit_rms(rows, t->h_scale, "hidden states");
    }

    rd_train_progress pr{};
    CHECK_OK(rd_trainer_run(t, 1000000, 20, &pr));
    CHECK_OK(rd_trainer_save(t, F_OUT));

    // the trainer's step-1 distribution for held-out samples
    train_graph & g = t->eg;
    const int32_t n = (int32_t) g.h->ne[1], V = t->hp.n_draft_vocab;
    CHECK(t->eval.size() >= (size_t) n && n >= 4, "%zu held-out samples for a graph of %d", t->eval.size(), n);
    train_fill_batch(t, g, t->eval.data(), n);
    CHECK(ggml_backend_graph_compute(t->backend, g.gf) == GGML_STATUS_SUCCESS, "evaluation graph failed");
    std::vector<float> logits((size_t) V * n);
    ggml_backend_tensor_get(g.logits[0], logits.data(), 0, sizeof(float) * logits.size());

    rd_drafter * dr = nullptr;
    if (CHECK_OK(rd_drafter_load(F_OUT, m, &dr))) {
        double worst = 0;
        int32_t same = 0;
        std::vector<float> h((size_t) d);
        for (int32_t j = 0; j < n; j++) {
            const float * x = &logits[(size_t) j * V];
            int32_t best = 0;
            for (int32_t v = 1; v < V; v++) if (x[v] > x[best]) best = v;
            double sum = 0;
            for (int32_t v = 0; v < V; v++) sum += std::exp((double) x[v] - x[best]);
            const double logp = -std::log(sum);

            const train_sample & smp = t->eval[(size_t) j];
            const teacher_seq & s = t->data.seqs[(size_t) smp.seq];
            train_hidden(t, smp, h.data());
            int32_t beam = -1;
            float beam_logp = 0;
            if (!CHECK_OK(rd_drafter_beam_search(dr, h.data(), s.tokens[smp.pos + 1], 1, 1, &beam, &beam_logp))) break;
            same += beam == t->vocab_ids[(size_t) best];
            worst = std::max(worst, std::fabs(beam_logp - logp));
        }
        printf("loaded drafter vs trainer on %d held-out positions: same top token %d, max |log p diff| %.2e\n", n, same, worst);
        CHECK_EQ_INT(same, n);
        CHECK(worst < 1e-4, "log-probabilities differ by %g", worst);
    }
    rd_drafter_free(dr);
    rd_trainer_free(t);

    // no input projection: h enters the residual path as it is, so it is not scaled
    params(&p, 0);
    t = nullptr;
    if (CHECK_OK(rd_trainer_init(m, F_TEACHER, &p, nullptr, false, &t))) {
        bool ones = true;
        for (float v : t->h_scale) ones = ones && v == 1.0f;
        CHECK(ones, "h_scale is not all ones without an input projection");
    }
    rd_trainer_free(t);

    remove(F_TEACHER);
    remove(F_OUT);
    rd_test_free_prompts(texts, n_texts);
    rd_model_free(m);
    return rd_test_done();
}
