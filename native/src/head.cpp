// head.cpp - the session's own LM head (see head.h).
#include "head.h"
#include "gguf_matrix.h"

#include <cstring>

rd_head::~rd_head() {
    if (wctx) ggml_free(wctx);
    if (backend) ggml_backend_free(backend);
}

static size_t arena_size(int64_t d, int64_t V) {
    const int64_t k = RD_HEAD_MAX_COLS;
    return 3 * ggml_tensor_overhead() + ggml_graph_overhead_custom(4, false) +
           (size_t) (d * k + V * k) * sizeof(float) + 4 * GGML_MEM_ALIGN;
}

rd_status rd_head_init(rd_head & h, const rd_model * m, int32_t n_threads) {
    if (!m->head_w) return rd_fail(RD_ERR_BACKEND, "the LM head cannot run outside llama.cpp: %s", m->head_why.c_str());
    h.w = m->head_w;
    h.n_vocab = h.w->n_rows();
    h.n_embd = h.w->n_cols();
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
