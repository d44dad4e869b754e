// test_head_kernel.cpp - the output-layer kernel (native/src/head_kernel.h) against references,
// printing the largest differences, for each type it takes: on random Q8_0, Q6_K and F16 matrices
// (V not a multiple of 16, so the scalar tail runs too; quants over their whole range, Q8_0's
// -128 and every Q6_K sub-block scale byte included), on the tiny models' Q8_0, Q6_K and F16
// output layers (ggml's own quantizer wrote them), and through sessions on the Q6_K and F16 models.
//
// Tolerances (r = a row, c = a column, S = sum over k of |W[r][k] x[c][k]| in double):
//   vs a double-precision sum with the same converted activations: <= n 2^-23 S' (S' = the sum of
//     the float path's |terms|: the blocks' |dw dx isum|, F16's |w xh|; n its roundings: nb fused
//     multiply-adds, for Q6_K 2 more per block (the rounded dw * dx and (float) isum, which may
//     pass 2^24), for F16 d / 16 per lane and the tree's 4);
//   vs the exact product with unconverted activations: <= the activation rounding bound
//     sum_k |W[r][k]| (|dx| / 2 + |x[c][k]| 2^-10) (dx = 0 for F16);
//   vs llama.cpp's own ggml matmul on the CPU backend (what llama.cpp runs for the output layer):
//     <= 1e-4 * S (both quantize the activations the same way; only the order of the sums differs).
// Exact, each with memcmp:
//   Q6_K's activations == ggml's quantize_row_q8_K_ref, which is what the x86 CPU backend pairs
//     with Q6_K; F16's == ggml_fp32_to_fp16 (round half to even, as the backend's F16C);
//   every SIMD path this CPU runs == the scalar reference (head_kernel.h, "Batch invariance":
//     integer sums are exact, the float steps are the same operations in the same order);
//   column c of a K-column call == the 1-column call of that column, for K = 1..16;
//   1, 2, 3 and 4 threads give the same bits (each row is computed by one thread, in one way).
// Session: a model whose output layer is Q6_K or F16 gets this kernel as its LM head, which passes
// the session's check (llama.cpp's logits within 1e-3 of the largest, 16 columns per call).
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

// ggml-base's own Q8_K quantizer (ggml/src/ggml-quants.h, not an installed header; its y is a
// block_q8_K array: float d, int8 qs[256], int16 bsums[16]).
extern "C" void quantize_row_q8_K_ref(const float * x, void * y, int64_t k);

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

struct matrix {
    ggml_type type = GGML_TYPE_Q8_0;
    std::vector<uint8_t> bytes;
    int32_t V = 0, d = 0;
    int32_t qk() const { return type == GGML_TYPE_F16 ? 16 : (int32_t) ggml_blck_size(type); } // the kernel's block
    int32_t nb() const { return d / qk(); }
};

static void put_fp16(uint8_t * p, float v) {
    const ggml_fp16_t h = ggml_fp32_to_fp16(v);
    memcpy(p, &h, 2);
}
static float get_fp16(const uint8_t * p) {
    ggml_fp16_t h;
    memcpy(&h, p, 2);
    return ggml_fp16_to_fp32(h);
}

// Quantized types: random bytes throughout, then a scale per block of a plausible size (Q6_K:
// either sign). F16: normal values of an output layer's size.
static matrix random_matrix(ggml_type type, int32_t V, int32_t d) {
    matrix m;
    m.type = type;
    m.V = V;
    m.d = d;
    const size_t bs = ggml_type_size(type);
    m.bytes.resize((size_t) V * ggml_row_size(type, d));
    if (type == GGML_TYPE_F16) {
        for (size_t i = 0; i < m.bytes.size(); i += 2) put_fp16(&m.bytes[i], 0.05f * normal());
        return m;
    }
    for (uint8_t & b : m.bytes) b = (uint8_t) (next_u32() >> 24);
    for (size_t i = 0; i < m.bytes.size(); i += bs) {
        if (type == GGML_TYPE_Q8_0) put_fp16(&m.bytes[i], 0.001f + 0.05f * uniform());
        else put_fp16(&m.bytes[i + 208], (next_u32() & 1 ? 1.0f : -1.0f) * (0.0002f + 0.002f * uniform()));
    }
    return m;
}

// Block b of row r as dw * iw[k] (exact): Q8_0 iw = qw; Q6_K iw = sc[k / 16] (q[k] - 32), with
// the quants unpacked as ggml's dequantize_row_q6_K walks them.
static float block_weights(const matrix & m, int32_t r, int32_t b, int32_t * iw) {
    const size_t bs = ggml_type_size(m.type);
    const uint8_t * blk = &m.bytes[((size_t) r * m.nb() + b) * bs];
    if (m.type == GGML_TYPE_Q8_0) {
        for (int k = 0; k < 32; k++) iw[k] = (int8_t) blk[2 + k];
        return get_fp16(blk);
    }
    const uint8_t * ql = blk, * qh = blk + 128;
    const int8_t * sc = reinterpret_cast<const int8_t *>(blk + 192);
    for (int n = 0; n < 256; n += 128, ql += 64, qh += 32, sc += 8)
        for (int l = 0; l < 32; l++) {
            const int is = l / 16;
            iw[n + l + 0] = sc[is + 0] * (((ql[l + 0] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32);
            iw[n + l + 32] = sc[is + 2] * (((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32);
            iw[n + l + 64] = sc[is + 4] * (((ql[l + 0] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
            iw[n + l + 96] = sc[is + 6] * (((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
        }
    return get_fp16(blk + 208);
}

// K columns of d activations, hidden-state-like, with the awkward cases: a zero block (zero_len
// values), a block with one large outlier, a column 100x larger than the others.
static std::vector<float> random_x(int32_t K, int32_t d, int32_t zero_len) {
    std::vector<float> x((size_t) K * d);
    for (int32_t c = 0; c < K; c++) {
        const float scale = c == 3 ? 100.0f : 1.0f + (float) c / 4;
        for (int32_t k = 0; k < d; k++) x[(size_t) c * d + k] = scale * normal();
    }
    if (K > 1)
        for (int32_t k = 0; k < zero_len; k++) x[(size_t) d + k] = 0.0f;
    if (K > 2 && d >= 64) x[(size_t) 2 * d + 40] = 50.0f;
    return x;
}

// The activations as the kernel must quantize them, per block: dx and qx.
//   Q8_0: the kernel's own rounding (ggml's x86 quantize_row_q8_0, head_kernel.h), recomputed;
//   Q6_K: ggml's quantize_row_q8_K_ref itself.
// F16's are ggml_fp32_to_fp16 of each value (check_matrix).
static void quantize_ref(ggml_type type, const float * v, int32_t d, std::vector<int8_t> & q, std::vector<float> & dx) {
    q.resize((size_t) d);
    if (type == GGML_TYPE_Q8_0) {
        dx.resize((size_t) d / 32);
        for (int32_t b = 0; b < d / 32; b++) {
            float amax = 0.0f;
            for (int k = 0; k < 32; k++) amax = std::fmax(amax, std::fabs(v[32 * b + k]));
            dx[(size_t) b] = ggml_fp16_to_fp32(ggml_fp32_to_fp16(amax / 127.0f));
            const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
            for (int k = 0; k < 32; k++) q[(size_t) (32 * b + k)] = (int8_t) std::nearbyint(v[32 * b + k] * id);
        }
        return;
    }
    const size_t bs = ggml_type_size(GGML_TYPE_Q8_K);
    std::vector<uint8_t> blocks((size_t) d / 256 * bs);
    quantize_row_q8_K_ref(v, blocks.data(), d);
    dx.resize((size_t) d / 256);
    for (int32_t b = 0; b < d / 256; b++) {
        memcpy(&dx[(size_t) b], &blocks[(size_t) b * bs], sizeof(float));
        memcpy(&q[(size_t) b * 256], &blocks[(size_t) b * bs + 4], 256);
    }
}

// The ggml CPU backend's mul_mat of the same weights: llama.cpp's output layer op.
static std::vector<float> ggml_logits(const matrix & m, const float * x, int32_t K) {
    std::vector<float> y;
    ggml_backend_t be = ggml_backend_init_by_type(GGML_BACKEND_DEVICE_TYPE_CPU, nullptr);
    if (!CHECK(be != nullptr, "a CPU backend")) return y;
    rd_backend_set_threads(be, 1);
    const size_t mem = 8 * ggml_tensor_overhead() + ggml_graph_overhead() + m.bytes.size() +
                       (size_t) K * (m.d + m.V) * sizeof(float) + 1024;
    ggml_init_params ip = {mem, nullptr, false};
    ggml_context * ctx = ggml_init(ip);
    ggml_tensor * w = ggml_new_tensor_2d(ctx, m.type, m.d, m.V);
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

static std::vector<float> run(const rd_hk_matrix & w, const float * x, int32_t K, rd_hk_isa isa, rd_pool * pool = nullptr,
                              rd_hk_scratch * scratch = nullptr) {
    std::vector<float> y((size_t) K * w.V, NAN);
    rd_hk_scratch s;
    rd_hk_matmul(w, x, K, y.data(), scratch ? *scratch : s, pool, isa);
    return y;
}

static void check_matrix(const char * name, const matrix & m) {
    const int32_t V = m.V, d = m.d, qk = m.qk(), nb = m.nb(), K = RD_HK_MAX_COLS;
    const char * tn = ggml_type_name(m.type);
    rd_hk_matrix w;
    if (!CHECK(rd_hk_prepare(w, m.type, m.bytes.data(), V, d), "%s %s: prepare", name, tn)) return;
    const std::vector<float> x = random_x(K, d, qk);
    rd_hk_scratch s;
    const std::vector<float> y = run(w, x.data(), K, rd_hk_isa::scalar, nullptr, &s);

    // references in double: the same quantized activations (float rounding only), and the exact
    // product with the unquantized ones (activation rounding on top)
    double worst_same = 0, worst_true = 0, worst_ggml = 0, max_same = 0, max_true = 0, max_ggml = 0;
    const std::vector<float> yg = ggml_logits(m, x.data(), K);
    // roundings on the float path: nb fused steps (Q6_K: 2 more per block); F16: d / 16 steps
    // per lane and the tree's 4 levels
    const bool f16 = m.type == GGML_TYPE_F16;
    const double steps = f16 ? d / 16 + 4 : m.type == GGML_TYPE_Q6_K ? nb + 2 : nb;
    std::vector<int8_t> q;
    std::vector<float> dx, xh((size_t) d);
    std::vector<int32_t> iw((size_t) qk);
    int32_t act_differ = 0;
    for (int32_t c = 0; c < K; c++) {
        const float * xc = &x[(size_t) c * d];
        if (f16) {
            for (int32_t k = 0; k < d; k++) xh[(size_t) k] = ggml_fp16_to_fp32(ggml_fp32_to_fp16(xc[k]));
            act_differ += memcmp(xh.data(), &s.xh[(size_t) c * d], (size_t) d * sizeof(float)) != 0;
        } else {
            quantize_ref(m.type, xc, d, q, dx);
            act_differ += memcmp(q.data(), &s.qx[(size_t) c * d], (size_t) d) != 0 ||
                          memcmp(dx.data(), &s.dx[(size_t) c * nb], (size_t) nb * sizeof(float)) != 0;
        }
        for (int32_t r = 0; r < V; r++) {
            double same = 0, same_abs = 0, exact = 0, abs_sum = 0, bound = 0;
            for (int32_t k = 0; f16 && k < d; k++) {
                const double wk = get_fp16(&m.bytes[((size_t) r * d + k) * 2]), xk = xc[k];
                same += wk * xh[(size_t) k];
                same_abs += std::fabs(wk * xh[(size_t) k]);
                exact += wk * xk;
                abs_sum += std::fabs(wk * xk);
                bound += std::fabs(wk * xk) * std::ldexp(1.0, -10);
            }
            for (int32_t b = 0; !f16 && b < nb; b++) {
                const double dw = block_weights(m, r, b, iw.data());
                int64_t isum = 0;
                for (int32_t k = 0; k < qk; k++) isum += (int64_t) iw[(size_t) k] * q[(size_t) (qk * b + k)];
                const double term = dw * dx[(size_t) b] * (double) isum;
                same += term;
                same_abs += std::fabs(term);
                for (int32_t k = 0; k < qk; k++) {
                    const double wk = dw * iw[(size_t) k], xk = xc[qk * b + k];
                    exact += wk * xk;
                    abs_sum += std::fabs(wk * xk);
                    bound += std::fabs(wk) * (std::fabs(dx[(size_t) b]) / 2 + std::fabs(xk) * std::ldexp(1.0, -10));
                }
            }
            const double got = y[(size_t) c * V + r];
            max_same = std::fmax(max_same, std::fabs(got - same));
            max_true = std::fmax(max_true, std::fabs(got - exact));
            worst_same = std::fmax(worst_same, std::fabs(got - same) / (steps * std::ldexp(1.0, -23) * same_abs + 1e-30));
            worst_true = std::fmax(worst_true, std::fabs(got - exact) / (bound + 1e-30));
            if (!yg.empty()) {
                const double dg = std::fabs(got - yg[(size_t) c * V + r]);
                max_ggml = std::fmax(max_ggml, dg);
                worst_ggml = std::fmax(worst_ggml, dg / (1e-4 * abs_sum + 1e-30));
            }
        }
    }
    printf("%s %s (V %d, d %d, K %d): max |diff| vs double on the same converted x %.3g (%.2f of its bound), "
           "vs exact %.3g (%.2f of the rounding bound), vs llama.cpp's ggml %.3g (%.2f of 1e-4 S)\n",
           name, tn, V, d, K, max_same, worst_same, max_true, worst_true, max_ggml, worst_ggml);
    CHECK(act_differ == 0, "%s %s: %d columns quantized unlike the reference (ggml's for Q6_K, F16)", name, tn, act_differ);
    CHECK(worst_same <= 1.0, "%s %s: the float steps stay within their roundings", name, tn);
    CHECK(worst_true <= 1.0, "%s %s: within the activation rounding bound", name, tn);
    CHECK(!yg.empty() && worst_ggml <= 1.0, "%s %s: within 1e-4 S of llama.cpp's ggml matmul", name, tn);

    // bit identity across SIMD paths, column counts and threads
    int32_t simd = 0;
    for (rd_hk_isa isa : {rd_hk_isa::scalar, rd_hk_isa::avx2, rd_hk_isa::avx2_vnni, rd_hk_isa::avx512_vnni,
                          rd_hk_isa::neon, rd_hk_isa::neon_dot}) {
        if (!rd_hk_isa_supported(isa) || !rd_hk_type_supported(m.type, isa)) continue;
        simd += isa != rd_hk_isa::scalar;
        const std::vector<float> yi = run(w, x.data(), K, isa);
        CHECK(memcmp(yi.data(), y.data(), y.size() * sizeof(float)) == 0, "%s %s: %s == scalar, bit for bit", name, tn,
              rd_hk_isa_name(isa));
        std::vector<std::vector<float>> one((size_t) K);
        for (int32_t c = 0; c < K; c++) one[(size_t) c] = run(w, &x[(size_t) c * d], 1, isa);
        int32_t bad = 0;
        for (int32_t k = 1; k <= K; k++) {
            const std::vector<float> yk = run(w, x.data(), k, isa);
            for (int32_t c = 0; c < k; c++)
                bad += memcmp(&yk[(size_t) c * V], one[(size_t) c].data(), (size_t) V * sizeof(float)) != 0;
        }
        CHECK(bad == 0, "%s %s %s: %d columns of K = 1..16 calls differ from their 1-column call", name, tn,
              rd_hk_isa_name(isa), bad);
        for (int32_t n = 2; n <= 4; n++) {
            rd_pool pool(n);
            const std::vector<float> yn = run(w, x.data(), K, isa, &pool);
            CHECK(memcmp(yn.data(), y.data(), y.size() * sizeof(float)) == 0, "%s %s %s: %d threads == 1 thread", name,
                  tn, rd_hk_isa_name(isa), n);
        }
    }
#if defined(__x86_64__)
    // every x86-64 CPU this runs on has AVX2 at least; a type without a SIMD path is left to ggml
    CHECK(simd > 0, "%s %s: a SIMD path ran", name, tn);
#endif
}

// Non-finite activations give non-finite logits for their column only (NaN for the quantized
// types, whose block scale becomes NaN); what the kernel refuses.
static void check_nan(ggml_type type) {
    const int32_t qk = type == GGML_TYPE_F16 ? 16 : (int32_t) ggml_blck_size(type), d = 2 * qk;
    const matrix m = random_matrix(type, 37, d);
    rd_hk_matrix w;
    CHECK(rd_hk_prepare(w, type, m.bytes.data(), m.V, m.d), "prepare");
    std::vector<float> x = random_x(2, d, 0);
    x[(size_t) d + qk + 6] = INFINITY;
    const std::vector<float> y = run(w, x.data(), 2, rd_hk_best_isa());
    bool first_finite = true, second_bad = true;
    for (int32_t r = 0; r < m.V; r++) {
        first_finite = first_finite && std::isfinite(y[(size_t) r]);
        second_bad = second_bad && (type == GGML_TYPE_F16 ? !std::isfinite(y[(size_t) m.V + r]) : std::isnan(y[(size_t) m.V + r]));
    }
    CHECK(first_finite && second_bad, "%s: an infinite activation spoils its own column, no other", ggml_type_name(type));
    CHECK(!rd_hk_prepare(w, type, m.bytes.data(), m.V, d + qk / 2), "%s: a row that is not whole blocks is refused",
          ggml_type_name(type));
}

// The output layer of the tiny model at $env, which must be of type.
static void check_model_output(const char * env, ggml_type type) {
    const char * path = getenv(env);
    std::string err;
    std::unique_ptr<gguf_matrix> out = path ? gguf_matrix_open(path, "output.weight", &err) : nullptr;
    if (!CHECK(out != nullptr, "the tiny model's output layer (%s): %s", env, err.c_str()) ||
        !CHECK(out->type() == type, "it is %s", ggml_type_name(type)))
        return;
    matrix m;
    m.type = type;
    m.V = out->n_rows();
    m.d = out->n_cols();
    const uint8_t * p = static_cast<const uint8_t *>(out->data());
    m.bytes.assign(p, p + (size_t) m.V * ggml_row_size(type, m.d));
    check_matrix("tiny model output.weight", m);
}

// A session on the tiny model at $env runs its LM head on this kernel (type), and the session's
// check accepted it.
static void check_session(const char * env, ggml_type type) {
    const char * path = getenv(env);
    if (!CHECK(path != nullptr, "%s is not set (CTest sets it)", env)) return;
    rd_model_params mp;
    rd_model_default_params(&mp);
    rd_model * m = nullptr;
    if (!CHECK_OK(rd_model_load(path, &mp, &m))) return;
    rd_session_params sp;
    rd_session_default_params(&sp);
    sp.n_ctx = 256;
    sp.n_threads = 2;
    rd_session * s = nullptr;
    if (CHECK_OK(rd_session_init(m, nullptr, &sp, &s))) {
        const char * tn = ggml_type_name(type);
        CHECK(m->head_q8 && m->head_q8->type == type, "the session's head is the %s kernel", tn);
        CHECK(m->head_ok, "%s: the session's head check passed: %s", tn, m->head_why.c_str());
        CHECK(m->head_cols == RD_HK_MAX_COLS, "%s: 16 columns per call keep the bits of one (got %d)", tn, m->head_cols);
    }
    rd_session_free(s);
    rd_model_free(m);
}

int main(void) {
    rd_backend_init(getenv("RD_LIB_DIR"));
    rd_log_set_quiet(true);
    printf("instruction set: %s\n", rd_hk_isa_name(rd_hk_best_isa()));
    check_matrix("random", random_matrix(GGML_TYPE_Q8_0, 1007, 640));
    check_matrix("random, one block per row", random_matrix(GGML_TYPE_Q8_0, 300, 32));
    check_matrix("random", random_matrix(GGML_TYPE_Q6_K, 1007, 512));
    check_matrix("random, one block per row", random_matrix(GGML_TYPE_Q6_K, 300, 256));
    check_matrix("random", random_matrix(GGML_TYPE_F16, 1007, 640));
    check_matrix("random, one block per row", random_matrix(GGML_TYPE_F16, 300, 16));
    for (ggml_type t : {GGML_TYPE_Q8_0, GGML_TYPE_Q6_K, GGML_TYPE_F16}) check_nan(t);
    rd_hk_matrix w;
    const uint8_t none[512] = {};
    CHECK(!rd_hk_prepare(w, GGML_TYPE_Q4_K, none, 1, 256), "a type without a kernel is refused");
    check_model_output("RD_TEST_MODEL_Q8", GGML_TYPE_Q8_0);
    check_model_output("RD_TEST_MODEL_Q6K", GGML_TYPE_Q6_K);
    check_model_output("RD_TEST_MODEL_F16", GGML_TYPE_F16);
    check_session("RD_TEST_MODEL_Q6K", GGML_TYPE_Q6_K);
    check_session("RD_TEST_MODEL_F16", GGML_TYPE_F16);
    return rd_test_done();
}
