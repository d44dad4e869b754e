// drafter_host.cpp - the drafter's forward step on the host (drafter_host.h).
#include "drafter_host.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

bool drafter_kernel_matrix(const ggml_tensor * t, rd_hk_isa isa, rd_hk_matrix & m) {
    return t && t->buffer && ggml_backend_buffer_is_host(t->buffer) && ggml_is_contiguous(t) &&
           rd_hk_type_supported(t->type, isa) && rd_hk_prepare(m, t->type, t->data, (int32_t) t->ne[1], (int32_t) t->ne[0]);
}

static const float * host_vector(const ggml_tensor * t) {
    const bool ok = t && t->type == GGML_TYPE_F32 && t->buffer && ggml_backend_buffer_is_host(t->buffer);
    return ok ? static_cast<const float *>(t->data) : nullptr;
}

std::unique_ptr<drafter_host> drafter_host_prepare(const rd_drafter & d) {
    const char * env = getenv("RD_DRAFTER_HOST");
    if (env && strcmp(env, "0") == 0) return nullptr; // the graph path, for comparisons
    auto w = std::make_unique<drafter_host>();
    w->isa = rd_hk_best_isa();
    if (w->isa == rd_hk_isa::scalar) return nullptr; // ggml's SIMD code beats the reference loops
    const drafter_weights & g = d.w;
    if (!drafter_kernel_matrix(g.rnn_w, w->isa, w->rnn_w) || !drafter_kernel_matrix(g.rnn_u, w->isa, w->rnn_u) || !drafter_kernel_matrix(g.lm_head, w->isa, w->head))
        return nullptr;
    if (g.proj_w && !drafter_kernel_matrix(g.proj_w, w->isa, w->proj)) return nullptr;
    if (!(w->rnn_b = host_vector(g.rnn_b))) return nullptr;
    for (int32_t i = 0; i < d.hp.n_layers; i++)
        if (!drafter_kernel_matrix(g.blk_w[i], w->isa, w->blk[i]) || !(w->blk_b[i] = host_vector(g.blk_b[i]))) return nullptr;
    return w;
}

static inline float silu(float x) { return x / (1.0f + std::exp(-x)); }

void drafter_host_step(drafter_host & w, const drafter_hparams & hp, int32_t n, const float * emb,
                       const float * s_prev, const float * h, float * s_out, float * logits, rd_pool * pool) {
    const size_t d = (size_t) hp.n_embd, e = (size_t) hp.n_head(), N = (size_t) n;
    const size_t wide = std::max(2 * d, e);
    w.t0.resize(d * N);
    w.t1.resize(d * N);
    w.z.resize(wide * N);
    w.a.resize(wide * N);

    // s = SiLU(W emb + U s_prev + b)
    rd_hk_matmul(w.rnn_w, emb, n, w.t0.data(), w.hk, pool, w.isa);
    if (s_prev) rd_hk_matmul(w.rnn_u, s_prev, n, w.t1.data(), w.hk, pool, w.isa);
    for (size_t c = 0; c < N; c++)
        for (size_t i = 0; i < d; i++) {
            float x = w.t0[c * d + i];
            if (s_prev) x += w.t1[c * d + i];
            s_out[c * d + i] = silu(x + w.rnn_b[i]);
        }

    // z = [h ; s], projected to e when the drafter has a projection
    float * z = w.z.data();
    for (size_t c = 0; c < N; c++) {
        memcpy(z + c * 2 * d, h, sizeof(float) * d);
        memcpy(z + c * 2 * d + d, s_out + c * d, sizeof(float) * d);
    }
    if (hp.n_proj > 0) {
        rd_hk_matmul(w.proj, z, n, w.a.data(), w.hk, pool, w.isa);
        std::swap(w.z, w.a);
        z = w.z.data();
    }

    // ResBlocks: z = z + SiLU(A z + a)
    for (int32_t l = 0; l < hp.n_layers; l++) {
        rd_hk_matmul(w.blk[l], z, n, w.a.data(), w.hk, pool, w.isa);
        const float * b = w.blk_b[l];
        for (size_t c = 0; c < N; c++)
            for (size_t i = 0; i < e; i++) z[c * e + i] += silu(w.a[c * e + i] + b[i]);
    }
    rd_hk_matmul(w.head, z, n, logits, w.hk, pool, w.isa);
}
