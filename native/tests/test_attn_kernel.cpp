// test_attn_kernel.cpp - the attention kernel (native/src/attn_kernel.h) and its place in the body
// backend (body_backend.cpp), on random f16 caches with grouped heads (6 query heads over 2 KV
// heads, and other groupings for the kernel), 37 cells (not a multiple of the 4-cell groups or the 8-lane exp), a mask with holes
// and a finite bias, and one query whose every cell is masked.
//
// Exact, each with memcmp: the path this CPU runs, and each SIMD path it has, == the portable loop; each query alone == the
// same query among 5 (batch invariance); the backend's op on a pool of 3 == on one thread.
// Bounded: within 1e-5 (relative to the largest |v|) of softmax attention in double precision,
// and within 1e-2 of ggml-cpu's own flash attention (which accumulates V in f16).
#include "harness.h"
#include "attn_kernel.h"
#include "body_kernel.h"
#include "thread_pool.h"

#include "ggml-backend.h"
#include "ggml-cpu.h"
#include "ggml.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

static uint32_t g_rng = 977;
static float uniform() { // [-1, 1)
    g_rng = g_rng * 1664525u + 1013904223u;
    return (float) ((g_rng >> 8) / 8388608.0) - 1.0f;
}

constexpr int32_t D = 64, NQ = 5, CELLS = 37, MROWS = 8;
static int32_t NH = 6, NKV = 2; // query heads, KV heads: each check_kernel shape sets them

struct inputs {
    std::vector<float>       q;    // [NQ][NH][D] (query stride NH * D)
    std::vector<ggml_fp16_t> k, v; // [NKV][CELLS][D]
    std::vector<ggml_fp16_t> mask; // [MROWS][CELLS]
    float                    scale = 0.125f;
};

static inputs make_inputs() {
    inputs in;
    in.q.resize((size_t) NQ * NH * D);
    for (float & x : in.q) x = uniform() * 3.0f;
    in.k.resize((size_t) NKV * CELLS * D);
    in.v.resize(in.k.size());
    for (auto & x : in.k) x = ggml_fp32_to_fp16(uniform() * 2.0f);
    for (auto & x : in.v) x = ggml_fp32_to_fp16(uniform());
    in.mask.resize((size_t) MROWS * CELLS);
    for (int32_t i = 0; i < MROWS; i++)
        for (int32_t c = 0; c < CELLS; c++) {
            float m = 0.0f;
            if (c > 30 + i || c % 7 == 3) m = -INFINITY; // causal-like tail and holes
            else if (c % 5 == 1) m = -0.5f;              // a finite bias
            if (i == 3) m = -INFINITY;                   // query 3 sees nothing
            in.mask[(size_t) i * CELLS + c] = ggml_fp32_to_fp16(m);
        }
    return in;
}

static rd_attn_job job_for(const inputs & in, int32_t q0, int32_t nq, float * out) {
    rd_attn_job j{};
    j.q = reinterpret_cast<const char *>(in.q.data() + (size_t) q0 * NH * D);
    j.q_nb1 = sizeof(float) * NH * D;
    j.q_nb2 = sizeof(float) * D;
    j.k = reinterpret_cast<const char *>(in.k.data());
    j.k_nb1 = 2 * D;
    j.k_nb2 = 2 * (size_t) D * CELLS;
    j.v = reinterpret_cast<const char *>(in.v.data());
    j.v_nb1 = j.k_nb1;
    j.v_nb2 = j.k_nb2;
    j.mask = reinterpret_cast<const char *>(in.mask.data() + (size_t) q0 * CELLS);
    j.m_nb1 = 2 * CELLS;
    j.dst = reinterpret_cast<char *>(out);
    j.d_nb1 = sizeof(float) * D;
    j.d_nb2 = sizeof(float) * D * NH;
    j.D = j.Dv = D;
    j.n_q = nq;
    j.n_head = NH;
    j.n_head_kv = NKV;
    j.n_kv = CELLS;
    j.scale = in.scale;
    return j;
}

static bool same(const std::vector<float> & a, const std::vector<float> & b) {
    return a.size() == b.size() && memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// Softmax attention in double precision: out[i][h][d].
static std::vector<double> exact(const inputs & in) {
    std::vector<double> out((size_t) NQ * NH * D, 0.0);
    for (int32_t i = 0; i < NQ; i++)
        for (int32_t h = 0; h < NH; h++) {
            const int32_t g = h / (NH / NKV);
            std::vector<double> s(CELLS, -INFINITY);
            double M = -INFINITY;
            for (int32_t c = 0; c < CELLS; c++) {
                const double m = ggml_fp16_to_fp32(in.mask[(size_t) i * CELLS + c]);
                if (std::isinf(m)) continue;
                double dot = 0.0;
                for (int32_t d = 0; d < D; d++)
                    dot += (double) in.q[((size_t) i * NH + h) * D + d] * ggml_fp16_to_fp32(in.k[((size_t) g * CELLS + c) * D + d]);
                s[c] = dot * in.scale + m;
                M = std::max(M, s[c]);
            }
            double S = 0.0;
            for (int32_t c = 0; c < CELLS; c++) {
                if (std::isinf(s[c])) continue;
                const double p = std::exp(s[c] - M);
                S += p;
                for (int32_t d = 0; d < D; d++)
                    out[((size_t) i * NH + h) * D + d] += p * ggml_fp16_to_fp32(in.v[((size_t) g * CELLS + c) * D + d]);
            }
            for (int32_t d = 0; d < D; d++) out[((size_t) i * NH + h) * D + d] = S > 0 ? out[((size_t) i * NH + h) * D + d] / S : 0.0;
        }
    return out;
}

static void check_kernel(const inputs & in) {
    rd_attn_scratch scratch;
    std::vector<float> got((size_t) NQ * NH * D), ref(got.size());
    rd_attn_units(job_for(in, 0, NQ, got.data()), 0, NQ * NH, scratch);
    rd_attn_units_ref(job_for(in, 0, NQ, ref.data()), 0, NQ * NH, scratch);
    CHECK(same(got, ref), "the path this CPU runs == the portable loop, bit for bit");
    for (rd_hk_isa isa : {rd_hk_isa::avx2, rd_hk_isa::avx512_vnni}) {
        if (!rd_hk_isa_supported(isa)) continue;
        std::vector<float> other(got.size());
        rd_attn_units_isa(job_for(in, 0, NQ, other.data()), 0, NQ * NH, scratch, isa);
        CHECK(same(other, ref), "the %s path == the portable loop, bit for bit", rd_hk_isa_name(isa));
    }

    bool alone = true;
    for (int32_t i = 0; i < NQ; i++) {
        std::vector<float> one((size_t) NH * D);
        rd_attn_units(job_for(in, i, 1, one.data()), 0, NH, scratch);
        alone = alone && memcmp(one.data(), got.data() + (size_t) i * NH * D, one.size() * sizeof(float)) == 0;
    }
    CHECK(alone, "each query alone == the same query among %d (batch invariance)", NQ);

    const std::vector<double> ex = exact(in);
    double worst = 0.0;
    bool zeros = true;
    for (size_t x = 0; x < got.size(); x++) {
        worst = std::max(worst, std::fabs(got[x] - ex[x]));
        if (x / ((size_t) NH * D) == 3) zeros = zeros && got[x] == 0.0f;
    }
    printf("largest error against double precision: %.3g\n", worst);
    CHECK(worst <= 1e-5, "within 1e-5 of softmax attention in double precision (%.3g)", worst);
    CHECK(zeros, "a query whose every cell is masked gets zeros");
}

// The op in a ggml graph: the body backend (one thread, then a pool of 3) against ggml-cpu.
static void check_backend(const inputs & in) {
    ggml_backend_dev_t dev = ggml_backend_dev_by_name("RD-Q4_1");
    if (!dev) {
        printf("no body backend on this CPU: the graph checks are skipped\n");
        return;
    }
    ggml_init_params ip = {8 * ggml_tensor_overhead() + ggml_graph_overhead() + 1024, nullptr, true};
    ggml_context * ctx = ggml_init(ip);
    ggml_tensor * q = ggml_new_tensor_3d(ctx, GGML_TYPE_F32, D, NH, NQ); // as stored: [D][NH][NQ]
    ggml_tensor * k = ggml_new_tensor_3d(ctx, GGML_TYPE_F16, D, CELLS, NKV);
    ggml_tensor * v = ggml_new_tensor_3d(ctx, GGML_TYPE_F16, D, CELLS, NKV);
    ggml_tensor * mask = ggml_new_tensor_2d(ctx, GGML_TYPE_F16, CELLS, MROWS);
    ggml_tensor * qp = ggml_permute(ctx, q, 0, 2, 1, 3); // [D][NQ][NH], as llama.cpp hands it over
    ggml_tensor * y = ggml_flash_attn_ext(ctx, qp, k, v, mask, in.scale, 0.0f, 0.0f);
    ggml_tensor * soft = ggml_flash_attn_ext(ctx, qp, k, v, mask, in.scale, 0.0f, 30.0f);
    CHECK(!ggml_backend_dev_supports_op(dev, y), "takes no attention outside an rd_body_scope(true)");
    rd_body_scope on(true);
    CHECK(ggml_backend_dev_supports_op(dev, y), "takes the attention");
    CHECK(!ggml_backend_dev_supports_op(dev, soft), "leaves a softcapped attention to ggml-cpu");
    ggml_cgraph * g = ggml_new_graph(ctx);
    ggml_build_forward_expand(g, y);
    ggml_backend_t be = ggml_backend_dev_init(dev, nullptr);
    ggml_backend_t cpu = ggml_backend_init_by_type(GGML_BACKEND_DEVICE_TYPE_CPU, nullptr);
    ggml_backend_buffer_t buf = ggml_backend_alloc_ctx_tensors_from_buft(ctx, ggml_backend_cpu_buffer_type());
    if (CHECK(be && cpu && buf, "backends and buffer")) {
        ggml_backend_tensor_set(q, in.q.data(), 0, in.q.size() * sizeof(float));
        ggml_backend_tensor_set(k, in.k.data(), 0, in.k.size() * 2);
        ggml_backend_tensor_set(v, in.v.data(), 0, in.v.size() * 2);
        ggml_backend_tensor_set(mask, in.mask.data(), 0, in.mask.size() * 2);
        std::vector<float> one((size_t) NQ * NH * D), pooled(one.size()), theirs(one.size()), direct(one.size());
        CHECK(ggml_backend_graph_compute(be, g) == GGML_STATUS_SUCCESS, "graph computes");
        ggml_backend_tensor_get(y, one.data(), 0, one.size() * sizeof(float));
        rd_attn_scratch scratch;
        rd_attn_units(job_for(in, 0, NQ, direct.data()), 0, NQ * NH, scratch);
        CHECK(same(one, direct), "the backend's op == rd_attn_units");
        {
            rd_pool pool(3, 50);
            rd_body_scope pooled_scope(true, &pool);
            CHECK(ggml_backend_graph_compute(be, g) == GGML_STATUS_SUCCESS, "graph computes on a pool");
            ggml_backend_tensor_get(y, pooled.data(), 0, pooled.size() * sizeof(float));
        }
        CHECK(same(one, pooled), "split across a pool of 3: the same bits");
        CHECK(ggml_backend_graph_compute(cpu, g) == GGML_STATUS_SUCCESS, "ggml-cpu computes it");
        ggml_backend_tensor_get(y, theirs.data(), 0, theirs.size() * sizeof(float));
        double worst = 0.0;
        for (size_t x = 0; x < one.size(); x++) worst = std::max(worst, (double) std::fabs(one[x] - theirs[x]));
        printf("largest difference from ggml-cpu: %.3g\n", worst);
        CHECK(worst <= 1e-2, "within 1e-2 of ggml-cpu's flash attention (%.3g)", worst);
    }
    ggml_backend_buffer_free(buf);
    ggml_backend_free(cpu);
    ggml_backend_free(be);
    ggml_free(ctx);
}

int main() {
    // heads per KV head: 3 (SmolLM2's shape), 1, 8 (two runs of 4 together), 5 (4 then 1)
    const int32_t shapes[][2] = {{6, 2}, {2, 2}, {8, 1}, {10, 2}};
    for (const auto & sh : shapes) {
        NH = sh[0], NKV = sh[1];
        printf("%d heads over %d KV heads: ", NH, NKV);
        check_kernel(make_inputs());
    }
    NH = 6, NKV = 2;
    const inputs in = make_inputs();
    // the backend is registered with the library's backends (rd_backend_init)
    if (CHECK_OK(rd_backend_init(getenv("RD_LIB_DIR")))) check_backend(in);
    return rd_test_done();
}
