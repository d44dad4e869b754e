// session_head.cpp - the LM head on demand in a session: the per-model check, the waves the
// acceptance walk asks for, and the benchmark hook rd_session_head_logits (see session_head.h).
#include "session.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

// Decode tok at pos (sequence 0) and copy its logits and hidden state; stop = at the norm.
static bool check_decode(const rd_model * m, session_target & t, int32_t tok, int32_t pos, bool stop,
                         std::vector<float> & logits, std::vector<float> & hidden) {
    t.batch.n_tokens = 0;
    session_target_add(t, tok, pos, 1u, true);
    t.stop_at_norm = stop;
    t.norm_seen = false;
    const bool ok = session_target_decode(t) == RD_OK;
    t.stop_at_norm = false;
    if (!ok) return false;
    const size_t V = (size_t) m->n_vocab, d = (size_t) m->n_embd;
    logits.assign(llama_get_logits_ith(t.ctx, 0), llama_get_logits_ith(t.ctx, 0) + V);
    hidden.assign(llama_get_embeddings_ith(t.ctx, 0), llama_get_embeddings_ith(t.ctx, 0) + d);
    return true;
}

// Once per model, before any session uses its own head: (1) a decode stopped at result_norm
// leaves the hidden state a whole decode makes; (2) the head's logits of two hidden states are
// llama.cpp's: bit for bit from ggml's op; from the Q8_0 kernel within 1e-3 of the largest logit
// (it quantizes the activations as ggml's x86 code does and only its sums run in another order:
// Gemma 3 differs by 3e-7 of it; ggml's ARM code rounds a quant now and then the other way;
// a wrong kernel misses by the whole scale); (3) sets
// m->head_cols to the most columns per call (<= RD_HEAD_MAX_COLS) that give the bits of one
// column per call: the kernel must keep them at every width (head_kernel.h), ggml's CPU matmul
// takes other kernels for some types and widths (F32: 2+ columns differ); (4) sets m->head_cost
// from timed calls. Returns "" or what failed.
static std::string head_check(rd_model * m, session_target & t, rd_head & head) {
    static_assert(sizeof(rd_model::head_cost) / sizeof(double) == RD_HEAD_MAX_COLS + 1, "head_cost holds 0..RD_HEAD_MAX_COLS");
    const size_t V = (size_t) m->n_vocab, d = (size_t) m->n_embd;
    const int32_t bos = llama_vocab_bos(m->vocab);
    const int32_t t0 = bos >= 0 ? bos : 0, t1 = (int32_t) (V / 2);
    std::vector<float> l0, h0, l1, h1, l1s, h1s;
    std::string why;
    llama_memory_t mem = llama_get_memory(t.ctx);
    llama_memory_clear(mem, true);
    if (!check_decode(m, t, t0, 0, false, l0, h0)) why = "decode failed";
    else if (!check_decode(m, t, t1, 1, true, l1s, h1s)) why = "decode failed";
    else if (!t.norm_seen) why = "the model's graph has no final-norm tensor";
    else if (!llama_memory_seq_rm(mem, 0, 1, -1) || !check_decode(m, t, t1, 1, false, l1, h1)) why = "decode failed";
    else if (memcmp(h1.data(), h1s.data(), d * sizeof(float)) != 0) why = "a decode stopped at the norm changed the hidden state";
    llama_memory_clear(mem, true);
    if (!why.empty()) return why;

    const int32_t C = RD_HEAD_MAX_COLS;
    const bool kernel = head.q8 != nullptr;
    std::vector<float> x(d * C), one(V * C);
    for (size_t i = 0; i < d; i++) {
        x[i] = h0[i];
        x[d + i] = h1[i];
        for (int32_t k = 2; k < C; k++) x[k * d + i] = (k % 2 ? h1[i] : h0[i]) * (float) (k - 4);
    }
    double best[RD_HEAD_MAX_COLS + 1];
    std::fill(best, best + C + 1, 1e30);
    auto timed = [&](const float * in, int32_t k) { // best of the timed calls of each width
        const double t = rd_now_ms();
        const float * y = rd_head_run(head, in, k);
        best[k] = std::min(best[k], rd_now_ms() - t);
        return y;
    };
    for (int32_t k = 0; k < C; k++) {
        const float * y = timed(&x[k * d], 1);
        if (!y) return "the head failed";
        memcpy(&one[k * V], y, V * sizeof(float));
    }
    if (kernel) {
        double diff = 0, scale = 1;
        for (size_t i = 0; i < V; i++) {
            diff = std::max({diff, (double) std::fabs(one[i] - l0[i]), (double) std::fabs(one[V + i] - l1[i])});
            scale = std::max({scale, (double) std::fabs(l0[i]), (double) std::fabs(l1[i])});
        }
        if (!(diff <= 1e-3 * scale))
            return "the Q8_0 kernel's logits differ from llama.cpp's by " + std::to_string(diff) + " (largest logit " +
                   std::to_string(scale) + ")";
    } else if (memcmp(&one[0], l0.data(), V * sizeof(float)) != 0 || memcmp(&one[V], l1.data(), V * sizeof(float)) != 0) {
        return "its logits differ from llama.cpp's (the graph does more than output x norm)";
    }
    // widths examined: every one for ggml's op (up to the first that changes a bit); for the
    // kernel, whose cost grows smoothly, a few
    std::vector<int32_t> widths;
    for (int32_t k = 2; k <= C; k++)
        if (!kernel || k <= 4 || k == 6 || k == 8 || k == 12 || k == C) widths.push_back(k);
    m->head_cols = 1;
    for (int32_t k : widths) {
        const float * y = timed(x.data(), k);
        if (!y || memcmp(y, one.data(), (size_t) k * V * sizeof(float)) != 0) {
            if (kernel) return "the Q8_0 kernel's logits change with the column count (" + std::to_string(k) + ")";
            break;
        }
        m->head_cols = k;
    }
    if (m->head_cols == 1) return ""; // one column per call: no width to choose
    // a second timing round (the machine may be busy), then cost[k] against one column
    timed(x.data(), 1);
    for (int32_t k : widths)
        if (k <= m->head_cols) timed(x.data(), k);
    if (kernel) { // its cost grows by about as much per column: a least-squares line through the
                  // timed widths steadies single timings on a busy machine (sessions then measure
                  // their own: policy.h, rd_policy_head_cost)
        double n = 0, sk = 0, st = 0, skk = 0, skt = 0;
        for (int32_t k = 1; k <= C; k++)
            if (best[k] < 1e30) n++, sk += k, st += best[k], skk += (double) k * k, skt += k * best[k];
        const double slope = std::max(0.0, (n * skt - sk * st) / (n * skk - sk * sk));
        const double one = std::max(1e-6, (st - slope * sk) / n + slope);
        for (int32_t k = 1; k <= C; k++) best[k] = one + slope * (k - 1);
    }
    for (int32_t k = 2; k <= m->head_cols; k++) m->head_cost[k] = best[1] > 0 ? best[k] / best[1] : (double) k;
    return "";
}

void session_head_init(session_head & h, rd_model * m, session_target & t, int32_t n_threads) {
    if (!m->head_w || rd_head_init(h.head, m, n_threads, t.body_pool.get()) != RD_OK) return;
    std::call_once(m->head_once, [&] {
        m->head_why = head_check(m, t, h.head);
        m->head_ok = m->head_why.empty();
    });
    h.on = m->head_ok;
    if (h.on) h.wave_x.resize((size_t) m->n_embd * RD_HEAD_MAX_COLS);
    else rd_head_release(h.head);
}

void session_head_begin(session_head & h, session_target & t) {
    h.step_lazy = t.stop_at_norm = h.on;
    h.wave_n = 0;
    h.n_cols = 0;
    h.n_calls = 0;
    h.t_ms = 0;
}

// The child of n the walk most likely moves to (node_p), or -1.
static int32_t likely_child(const rd_session * s, int32_t n) {
    const rd_tree & t = s->tree;
    int32_t best = -1;
    for (int32_t j = n + 1; j < t.n; j++)
        if (t.parent[j] == n && (best < 0 || s->node_p[j] > s->node_p[best])) best = j;
    return best;
}

// The head runs one column, or several at once (a wave: the node and the nodes the walk most
// likely reaches after it), whichever rd_head_wave expects to cost least given node_p and the
// cost per width: the session's own measure for the Q8_0 kernel (policy.h), else the check's.
const float * rd_node_logits(rd_session * s, int32_t node) {
    session_head & h = s->lazy;
    if (!h.step_lazy) return llama_get_logits_ith(s->target.ctx, node);
    for (int32_t k = 0; k < h.wave_n; k++)
        if (h.wave_node[k] == node) return h.wave_logits + (size_t) k * s->m->n_vocab;
    const size_t d = (size_t) s->m->n_embd;
    int32_t chain[RD_MAX_BEAM_LENGTH + 1], len = 0;
    double q[RD_MAX_BEAM_LENGTH + 1];
    for (int32_t j = node; j >= 0 && len <= RD_MAX_BEAM_LENGTH; j = likely_child(s, j)) {
        q[len] = s->node_p[j];
        chain[len++] = j;
    }
    double learnt[RD_HEAD_MAX_COLS + 1];
    const bool own = h.head.q8 && rd_policy_head_cost(s->draft.policy, s->m->head_cols, learnt);
    const int32_t n = rd_head_wave(own ? learnt : s->m->head_cost, s->m->head_cols, q, len);
    for (int32_t k = 0; k < n; k++) {
        h.wave_node[k] = chain[k];
        memcpy(&h.wave_x[k * d], llama_get_embeddings_ith(s->target.ctx, chain[k]), d * sizeof(float));
    }
    const double t0 = rd_now_ms();
    h.wave_logits = rd_head_run(h.head, h.wave_x.data(), n);
    h.t_ms += rd_now_ms() - t0;
    h.wave_n = h.wave_logits ? n : 0;
    h.n_cols += n;
    h.n_calls++;
    return h.wave_logits;
}

rd_status rd_session_head_logits(rd_session * s, const float * x, int32_t k, float * logits) try {
    if (!s || !x || !logits || k < 1 || k > RD_HEAD_MAX_COLS)
        return rd_fail(RD_ERR_INVALID_ARG, "rd_session_head_logits: session, x, logits and k in 1..%d are required", RD_HEAD_MAX_COLS);
    if (!s->lazy.on) return rd_fail(RD_ERR_STATE, "this session runs llama.cpp's LM head (lazy_head off, or no head of its own for this model)");
    const float * y = rd_head_run(s->lazy.head, x, k);
    if (!y) return rd_fail(RD_ERR_BACKEND, "the LM head's ggml graph failed");
    memcpy(logits, y, (size_t) k * (size_t) s->m->n_vocab * sizeof(float));
    return RD_OK;
} catch (...) { return rd_caught(__func__); }

