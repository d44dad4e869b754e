// train_eval.cpp - how good a drafter in training is: on held-out teacher positions, per draft
// step k, KL(teacher || drafter) and whether the teacher's greedy token is the drafter's top-1 /
// within its top-B (teacher forcing, like training); and tau by real speculative generation.
#include "train.h"

#include <algorithm>
#include <cmath>
#include <cstring>

rd_status train_evaluate(rd_trainer * t) {
    train_graph & g = t->eg;
    const int32_t n = (int32_t) g.h->ne[1], L = t->L, V = t->hp.n_draft_vocab, K = t->data.top_k;
    const int32_t B = std::min(t->p.eval_beams, V);
    double kl = 0;
    int64_t hit1[RD_MAX_BEAM_LENGTH] = {}, hitB[RD_MAX_BEAM_LENGTH] = {}, count = 0;
    std::vector<float> logits((size_t) V * n), target((size_t) V);
    std::vector<train_sample> batch((size_t) n);
    for (size_t b0 = 0; b0 + (size_t) n <= t->eval.size(); b0 += (size_t) n) {
        std::copy(t->eval.begin() + (long) b0, t->eval.begin() + (long) b0 + n, batch.begin());
        train_fill_batch(t, g, batch.data(), n);
        if (ggml_backend_graph_compute(t->backend, g.gf) != GGML_STATUS_SUCCESS)
            return rd_fail(RD_ERR_BACKEND, "trainer: evaluation graph failed on %s", ggml_backend_name(t->backend));
        count += n;
        for (int32_t k = 0; k < L; k++) {
            ggml_backend_tensor_get(g.logits[k], logits.data(), 0, sizeof(float) * logits.size());
            for (int32_t j = 0; j < n; j++) {
                const float * x = &logits[(size_t) j * V];
                const teacher_seq & s = t->data.seqs[(size_t) batch[(size_t) j].seq];
                const int32_t pos = batch[(size_t) j].pos + k + 1;
                // the teacher's greedy token: what verification accepts
                const int32_t want = t->draft_index[(size_t) s.ids[(size_t) pos * K]];
                float mx = x[0];
                for (int32_t v = 1; v < V; v++) mx = std::max(mx, x[v]);
                double sum = 0;
                for (int32_t v = 0; v < V; v++) sum += std::exp((double) (x[v] - mx));
                const double lse = mx + std::log(sum);
                if (want >= 0) {
                    int32_t above = 0; // tokens the drafter ranks before the teacher's (ties: lower index first)
                    for (int32_t v = 0; v < V && above < B; v++)
                        if (x[v] > x[want] || (x[v] == x[want] && v < want)) above++;
                    hit1[k] += above == 0;
                    hitB[k] += above < B;
                }
                std::fill(target.begin(), target.end(), 0.0f);
                if (train_target_row(t, s, pos, 0.0f, target.data()))
                    for (int32_t v = 0; v < V; v++)
                        if (target[(size_t) v] > 0) kl += target[(size_t) v] * (std::log((double) target[(size_t) v]) - (x[v] - lse));
            }
        }
    }
    t->eval_kl = count > 0 ? kl / (double) count : 0;
    for (int32_t k = 0; k < RD_MAX_BEAM_LENGTH; k++) {
        t->acc1[k] = count > 0 && k < L ? (double) hit1[k] / (double) count : 0;
        t->accB[k] = count > 0 && k < L ? (double) hitB[k] / (double) count : 0;
    }
    t->n_evals++;
    return RD_OK;
}

rd_status rd_eval_tau(rd_model * m, rd_drafter * d, const int32_t * tokens, const int64_t * offsets,
                      int32_t n_prompts, int32_t B, int32_t L, int32_t max_new_tokens, int32_t n_threads,
                      double * tau, double * tokens_per_s) try {
    if (!m || !tokens || !offsets || !tau || n_prompts < 1 || max_new_tokens < 1)
        return rd_fail(RD_ERR_INVALID_ARG, "rd_eval_tau: model, prompts (>= 1), max_new_tokens >= 1 and tau are required");
    rd_session_params sp;
    rd_session_default_params(&sp);
    sp.beam_width = B;
    sp.beam_length = L;
    sp.adaptive = false; // every step drafts B x L: the drafter's tau, not the policy's
    sp.lookup = 0;       // and the drafter's alone, without the context copy
    sp.n_threads = n_threads;
    int64_t longest = 0;
    for (int32_t i = 0; i < n_prompts; i++) longest = std::max(longest, offsets[i + 1] - offsets[i]);
    sp.n_ctx = (int32_t) std::max<int64_t>(256, longest + max_new_tokens + 1 + (int64_t) B * L);
    rd_session * s = nullptr;
    if (rd_status st = rd_session_init(m, d, &sp, &s); st != RD_OK) return st;
    rd_sampler_params smp;
    rd_sampler_default_params(&smp);
    std::vector<int32_t> out((size_t) max_new_tokens);
    int64_t n_tokens = 0, n_calls = 0;
    double ms = 0;
    rd_status st = RD_OK;
    for (int32_t i = 0; i < n_prompts && st == RD_OK; i++) {
        const int32_t n = (int32_t) (offsets[i + 1] - offsets[i]);
        if ((st = rd_session_prefill(s, tokens + offsets[i], n, &smp)) != RD_OK) break;
        const double t0 = rd_now_ms();
        int32_t left = max_new_tokens;
        while (left > 0) {
            rd_step_result r;
            if ((st = rd_session_step(s, d != nullptr, left, out.data(), nullptr, &r)) != RD_OK) break;
            n_tokens += r.n_tokens;
            n_calls += r.target_calls;
            left -= r.n_tokens;
            if (r.finish != RD_FINISH_NONE || r.n_tokens == 0) break;
        }
        ms += rd_now_ms() - t0;
    }
    rd_session_free(s);
    if (st != RD_OK) return st;
    *tau = n_calls > 0 ? (double) n_tokens / (double) n_calls : 0.0;
    if (tokens_per_s) *tokens_per_s = ms > 0 ? (double) n_tokens / (ms / 1000.0) : 0.0;
    return RD_OK;
} catch (...) { return rd_caught(__func__); }
