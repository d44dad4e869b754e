// head.cpp - the session's own LM head (see head.h).
#include "head.h"
#include "gguf_matrix.h"

#include <cmath>
#include <cstring>

void rd_head_release(rd_head & h) {
    if (h.wctx) ggml_free(h.wctx);
    if (h.backend) ggml_backend_free(h.backend);
    h.wctx = nullptr;
    h.backend = nullptr;
    h.wt = nullptr;
    std::vector<uint8_t>().swap(h.arena);
    h.q8 = nullptr;
    h.pool = nullptr;
    h.own_pool.reset();
    h.scratch = rd_hk_scratch{};
    std::vector<float>().swap(h.out);
}

rd_head::~rd_head() { rd_head_release(*this); }

static size_t arena_size(int64_t d, int64_t V) {
    const int64_t k = RD_HEAD_MAX_COLS;
    return 3 * ggml_tensor_overhead() + ggml_graph_overhead_custom(4, false) +
           (size_t) (d * k + V * k) * sizeof(float) + 4 * GGML_MEM_ALIGN;
}

rd_status rd_head_init(rd_head & h, rd_model * m, int32_t n_threads, rd_pool * shared) {
    if (!m->head_w) return rd_fail(RD_ERR_BACKEND, "the LM head cannot run outside llama.cpp: %s", m->head_why.c_str());
    h.w = m->head_w;
    h.n_vocab = h.w->n_rows();
    h.n_embd = h.w->n_cols();
    if (rd_hk_type_supported(h.w->type(), rd_hk_best_isa())) {
        std::call_once(m->head_q8_once, [&] {
            auto q = std::make_unique<rd_hk_matrix>();
            if (rd_hk_prepare(*q, h.w->type(), h.w->data(), h.n_vocab, h.n_embd)) m->head_q8 = std::move(q);
        });
    }
    if (m->head_q8) {
        h.q8 = m->head_q8.get();
        h.isa = rd_hk_best_isa();
        if (!shared) h.own_pool = std::make_unique<rd_pool>(n_threads > 0 ? n_threads : rd_default_threads());
        h.pool = shared ? shared : h.own_pool.get();
        return RD_OK;
    }
    h.backend = ggml_backend_init_by_type(GGML_BACKEND_DEVICE_TYPE_CPU, nullptr);
    if (!h.backend) return rd_fail(RD_ERR_BACKEND, "no CPU backend for the LM head");
    rd_backend_set_threads(h.backend, n_threads);
    ggml_init_params wp = { ggml_tensor_overhead(), nullptr, /*no_alloc =*/ true };
    h.wctx = ggml_init(wp);
    if (!h.wctx) return rd_fail(RD_ERR_NO_MEMORY, "LM head: ggml_init failed");
    h.wt = ggml_new_tensor_2d(h.wctx, h.w->type(), h.n_embd, h.n_vocab);
    h.wt->data = const_cast<void *>(h.w->data()); // read-only: a matmul's src0 is never written
    h.arena.resize(arena_size(h.n_embd, h.n_vocab));
    return RD_OK;
}

const float * rd_head_run(rd_head & h, const float * x, int32_t k) {
    if (k < 1 || k > RD_HEAD_MAX_COLS) return nullptr;
    if (h.q8) {
        if (h.out.size() < (size_t) k * (size_t) h.n_vocab) h.out.resize((size_t) k * (size_t) h.n_vocab);
        rd_hk_matmul(*h.q8, x, k, h.out.data(), h.scratch, h.pool, h.isa);
        return h.out.data();
    }
    ggml_init_params ip = { h.arena.size(), h.arena.data(), /*no_alloc =*/ false };
    ggml_context * ctx = ggml_init(ip);
    if (!ctx) return nullptr;
    ggml_tensor * xt = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, h.n_embd, k);
    memcpy(xt->data, x, (size_t) h.n_embd * (size_t) k * sizeof(float));
    ggml_tensor * y = ggml_mul_mat(ctx, h.wt, xt); // [V, k]: what llama.cpp's graph computes
    ggml_cgraph * gf = ggml_new_graph_custom(ctx, 4, false);
    ggml_build_forward_expand(gf, y);
    const bool ok = ggml_backend_graph_compute(h.backend, gf) == GGML_STATUS_SUCCESS;
    const float * out = ok ? static_cast<const float *>(y->data) : nullptr;
    ggml_free(ctx); // frees nothing the arena holds: y's data stays valid until the next call
    return out;
}

int32_t rd_head_wave(const double * cost, int32_t max_cols, const double * q, int32_t len) {
    std::vector<double> E((size_t) len + 1, 0.0);
    std::vector<int32_t> pick((size_t) len + 1, 1);
    for (int32_t i = len - 1; i >= 0; i--) {
        E[(size_t) i] = HUGE_VAL;
        double reach = 1.0; // of chain node i + k, given node i is reached
        for (int32_t k = 1; k <= max_cols && i + k <= len; k++) {
            if (i + k < len) reach *= q[i + k];
            const double e = cost[k] + (i + k < len ? reach * E[(size_t) (i + k)] : 0.0);
            if (e < E[(size_t) i]) E[(size_t) i] = e, pick[(size_t) i] = k;
        }
    }
    return pick[0];
}
