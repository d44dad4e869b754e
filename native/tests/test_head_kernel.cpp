// test_head_kernel.cpp - the Q8_0 output-layer kernel (native/src/head_kernel.h) against
// references, printing the largest differences; on random Q8_0 matrices (V not a multiple of 16,
// so the scalar tail runs too; quants over the whole int8 range, -128 included) and on the tiny
// model's Q8_0 output layer.
//
// Tolerances (r = a row, c = a column, S = sum over k of |W[r][k] x[c][k]| in double):
//   vs a double-precision sum of the same integer block sums and scales: <= nb * 2^-23 * S (the
//     float steps are nb fused multiply-adds);
//   vs the exact product with unquantized activations: <= the activation rounding bound
//     sum_k |W[r][k]| (dx / 2 + |x[c][k]| 2^-10);
//   vs llama.cpp's own ggml matmul on the CPU backend (what llama.cpp runs for the output layer):
//     <= 1e-4 * S (both quantize the activations the same way; only the order of the sums differs).
// Bit identity, each with memcmp (why: head_kernel.h, "Batch invariance"):
//   every SIMD path this CPU runs == the scalar reference (integer sums are exact, the float
//     steps are the same operations in the same order);
//   column c of a K-column call == the 1-column call of that column, for K = 1..16;
//   1, 2, 3 and 4 threads give the same bits (each row is computed by one thread, in one way).
#include "harness.h"
#include "gguf_matrix.h"
#include "head_kernel.h"
#include "internal.h"
#include "thread_pool.h"

#include "ggml-backend.h"
#include "ggml.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

static uint32_t g_rng = 12345;
static uint32_t next_u32() {
    g_rng = g_rng * 1664525u + 1013904223u;
    return g_rng;
}
static float uniform() { return (float) ((next_u32() >> 8) / 16777216.0); }
static float normal() {
    float u = uniform() + 1e-7f, v = uniform();
    return std::sqrt(-2.0f * std::log(u)) * std::cos(6.2831853f * v);
}

struct q8_matrix {
    std::vector<uint8_t> bytes;
    int32_t V = 0, d = 0;
};

static q8_matrix random_q8(int32_t V, int32_t d) {
    q8_matrix m;
    m.V = V;
    m.d = d;
    m.bytes.resize((size_t) V * (size_t) (d / 32) * 34);
    for (size_t i = 0; i < m.bytes.size(); i += 34) {
        const ggml_fp16_t h = ggml_fp32_to_fp16(0.001f + 0.05f * uniform());
        memcpy(&m.bytes[i], &h, 2);
        for (int k = 0; k < 32; k++) m.bytes[i + 2 + k] = (uint8_t) (next_u32() >> 24); // -128..127
    }
    return m;
}

// K columns of d activations, hidden-state-like, with the awkward cases: a zero block, a block
// with one large outlier, a column 100x larger than the others.
static std::vector<float> random_x(int32_t K, int32_t d) {
    std::vector<float> x((size_t) K * d);
    for (int32_t c = 0; c < K; c++) {
        const float scale = c == 3 ? 100.0f : 1.0f + (float) c / 4;
        for (int32_t k = 0; k < d; k++) x[(size_t) c * d + k] = scale * normal();
    }
    if (K > 1)
        for (int32_t k = 0; k < 32; k++) x[(size_t) d + k] = 0.0f;
    if (K > 2 && d >= 64) x[(size_t) 2 * d + 40] = 50.0f;
    return x;
}

static float w_at(const q8_matrix & m, int32_t r, int32_t k) {
    const uint8_t * blk = &m.bytes[((size_t) r * (m.d / 32) + k / 32) * 34];
    ggml_fp16_t h;
    memcpy(&h, blk, 2);
    return ggml_fp16_to_fp32(h) * (float) (int8_t) blk[2 + k % 32];
}

// The kernel's own activation quantization, recomputed here (head_kernel.h) for the reference.
static void quantize_ref(const float * v, int8_t * q, double * dx) {
    float amax = 0.0f;
    for (int k = 0; k < 32; k++) amax = std::fmax(amax, std::fabs(v[k]));
    *dx = ggml_fp16_to_fp32(ggml_fp32_to_fp16(amax / 127.0f));
    const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    for (int k = 0; k < 32; k++) q[k] = (int8_t) std::nearbyint(v[k] * id);
}

// The ggml CPU backend's mul_mat of the same weights: llama.cpp's output layer op.
static std::vector<float> ggml_logits(const q8_matrix & m, const float * x, int32_t K) {
    std::vector<float> y;
    ggml_backend_t be = ggml_backend_init_by_type(GGML_BACKEND_DEVICE_TYPE_CPU, nullptr);
    if (!CHECK(be != nullptr, "a CPU backend")) return y;
    rd_backend_set_threads(be, 1);
    const size_t mem = 8 * ggml_tensor_overhead() + ggml_graph_overhead() + m.bytes.size() +
                       (size_t) K * (m.d + m.V) * sizeof(float) + 1024;
    ggml_init_params ip = {mem, nullptr, false};
    ggml_context * ctx = ggml_init(ip);
    ggml_tensor * w = ggml_new_tensor_2d(ctx, GGML_TYPE_Q8_0, m.d, m.V);
    memcpy(w->data, m.bytes.data(), m.bytes.size());
    ggml_tensor * xt = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, m.d, K);
    memcpy(xt->data, x, (size_t) K * m.d * sizeof(float));
    ggml_tensor * out = ggml_mul_mat(ctx, w, xt);
    ggml_cgraph * gf = ggml_new_graph(ctx);
    ggml_build_forward_expand(gf, out);
    if (CHECK(ggml_backend_graph_compute(be, gf) == GGML_STATUS_SUCCESS, "ggml graph"))
        y.assign((const float *) out->data, (const float *) out->data + (size_t) K * m.V);
    ggml_free(ctx);
    ggml_backend_free(be);
    return y;
}

static std::vector<float> run(const rd_hk_matrix & w, const float * x, int32_t K, rd_hk_isa isa, rd_pool * pool = nullptr) {
    std::vector<float> y((size_t) K * w.V, NAN);
    rd_hk_scratch s;
    rd_hk_matmul(w, x, K, y.data(), s, pool, isa);
    return y;
}

static void check_matrix(const char * name, const q8_matrix & m) {
    const int32_t V = m.V, d = m.d, nb = d / 32, K = RD_HK_MAX_COLS;
    rd_hk_matrix w;
    if (!CHECK(rd_hk_prepare(w, m.bytes.data(), V, d), "%s: prepare", name)) return;
    const std::vector<float> x = random_x(K, d);
    const std::vector<float> y = run(w, x.data(), K, rd_hk_isa::scalar);

    // references in double: the same quantized activations (float rounding only), and the exact
    // product with the unquantized ones (activation rounding on top)
    double worst_same = 0, worst_true = 0, worst_ggml = 0, max_same = 0, max_true = 0, max_ggml = 0;
    const std::vector<float> yg = ggml_logits(m, x.data(), K);
    std::vector<int8_t> q((size_t) d);
    std::vector<double> dx((size_t) nb);
    for (int32_t c = 0; c < K; c++) {
        const float * xc = &x[(size_t) c * d];
        for (int32_t b = 0; b < nb; b++) quantize_ref(xc + 32 * b, &q[(size_t) 32 * b], &dx[(size_t) b]);
        for (int32_t r = 0; r < V; r++) {
            double same = 0, same_abs = 0, exact = 0, abs_sum = 0, bound = 0;
            for (int32_t b = 0; b < nb; b++) {
                const uint8_t * blk = &m.bytes[((size_t) r * nb + b) * 34];
                ggml_fp16_t h;
                memcpy(&h, blk, 2);
                int64_t isum = 0;
                for (int k = 0; k < 32; k++) isum += (int64_t) (int8_t) blk[2 + k] * q[(size_t) (32 * b + k)];
                const double term = (double) ggml_fp16_to_fp32(h) * dx[(size_t) b] * (double) isum;
                same += term;
                same_abs += std::fabs(term);
                for (int k = 0; k < 32; k++) {
                    const double wk = w_at(m, r, 32 * b + k), xk = xc[32 * b + k];
                    exact += wk * xk;
                    abs_sum += std::fabs(wk * xk);
                    bound += std::fabs(wk) * (dx[(size_t) b] / 2 + std::fabs(xk) * std::ldexp(1.0, -10));
                }
            }
            const double got = y[(size_t) c * V + r];
            max_same = std::fmax(max_same, std::fabs(got - same));
            max_true = std::fmax(max_true, std::fabs(got - exact));
            worst_same = std::fmax(worst_same, std::fabs(got - same) / (nb * std::ldexp(1.0, -23) * same_abs + 1e-30));
            worst_true = std::fmax(worst_true, std::fabs(got - exact) / (bound + 1e-30));
            if (!yg.empty()) {
                const double dg = std::fabs(got - yg[(size_t) c * V + r]);
                max_ggml = std::fmax(max_ggml, dg);
                worst_ggml = std::fmax(worst_ggml, dg / (1e-4 * abs_sum + 1e-30));
            }
        }
    }
    printf("%s (V %d, d %d, K %d): max |diff| vs double on the same quantized x %.3g (%.2f of its bound), "
           "vs exact %.3g (%.2f of the rounding bound), vs llama.cpp's ggml %.3g (%.2f of 1e-4 S)\n",
           name, V, d, K, max_same, worst_same, max_true, worst_true, max_ggml, worst_ggml);
    CHECK(worst_same <= 1.0, "%s: the float steps stay within nb roundings", name);
    CHECK(worst_true <= 1.0, "%s: within the activation rounding bound", name);
    CHECK(!yg.empty() && worst_ggml <= 1.0, "%s: within 1e-4 S of llama.cpp's ggml matmul", name);

    // bit identity across SIMD paths, column counts and threads
    for (rd_hk_isa isa : {rd_hk_isa::scalar, rd_hk_isa::avx2, rd_hk_isa::avx2_vnni, rd_hk_isa::avx512_vnni,
                          rd_hk_isa::neon, rd_hk_isa::neon_dot}) {
        if (!rd_hk_isa_supported(isa)) continue;
        const std::vector<float> yi = run(w, x.data(), K, isa);
        CHECK(memcmp(yi.data(), y.data(), y.size() * sizeof(float)) == 0, "%s: %s == scalar, bit for bit", name,
              rd_hk_isa_name(isa));
        std::vector<std::vector<float>> one((size_t) K);
        for (int32_t c = 0; c < K; c++) one[(size_t) c] = run(w, &x[(size_t) c * d], 1, isa);
        int32_t bad = 0;
        for (int32_t k = 1; k <= K; k++) {
            const std::vector<float> yk = run(w, x.data(), k, isa);
            for (int32_t c = 0; c < k; c++)
                bad += memcmp(&yk[(size_t) c * V], one[(size_t) c].data(), (size_t) V * sizeof(float)) != 0;
        }
        CHECK(bad == 0, "%s %s: %d columns of K = 1..16 calls differ from their 1-column call", name, rd_hk_isa_name(isa), bad);
        for (int32_t n = 2; n <= 4; n++) {
            rd_pool pool(n);
            const std::vector<float> yn = run(w, x.data(), K, isa, &pool);
            CHECK(memcmp(yn.data(), y.data(), y.size() * sizeof(float)) == 0, "%s %s: %d threads == 1 thread", name,
                  rd_hk_isa_name(isa), n);
        }
    }
}

// Non-finite activations give NaN logits for their column only.
static void check_nan() {
    const q8_matrix m = random_q8(37, 64);
    rd_hk_matrix w;
    CHECK(rd_hk_prepare(w, m.bytes.data(), m.V, m.d), "prepare");
    std::vector<float> x = random_x(2, 64);
    x[70] = INFINITY;
    const std::vector<float> y = run(w, x.data(), 2, rd_hk_best_isa());
    bool first_finite = true, second_nan = true;
    for (int32_t r = 0; r < m.V; r++) {
        first_finite = first_finite && std::isfinite(y[(size_t) r]);
        second_nan = second_nan && std::isnan(y[(size_t) m.V + r]);
    }
    CHECK(first_finite && second_nan, "an infinite activation makes its own column NaN, no other");
    CHECK(!rd_hk_prepare(w, m.bytes.data(), m.V, 48), "a row that is not whole blocks is refused");
}

int main(void) {
    rd_backend_init(getenv("RD_LIB_DIR"));
    rd_log_set_quiet(true);
    printf("instruction set: %s\n", rd_hk_isa_name(rd_hk_best_isa()));
    check_matrix("random", random_q8(1007, 640));
    check_matrix("random, one block per row", random_q8(300, 32));
    check_nan();

    const char * path = getenv("RD_TEST_MODEL_Q8");
    std::string err;
    std::unique_ptr<gguf_matrix> out = path ? gguf_matrix_open(path, "output.weight", &err) : nullptr;
    if (CHECK(out != nullptr, "the tiny model's output layer: %s", err.c_str()) &&
        CHECK(out->type() == GGML_TYPE_Q8_0, "it is Q8_0")) {
        q8_matrix m;
        m.V = out->n_rows();
        m.d = out->n_cols();
        const uint8_t * p = static_cast<const uint8_t *>(out->data());
        m.bytes.assign(p, p + (size_t) m.V * (m.d / 32) * 34);
        check_matrix("tiny model output.weight", m);
    }
    return rd_test_done();
}
