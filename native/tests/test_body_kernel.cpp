// test_body_kernel.cpp - the Q4_1 body kernel (native/src/body_kernel.h) and its ggml backend
// (body_backend.cpp), on random Q4_1 matrices that ggml's own quantizer wrote (V not a multiple of
// 4, so the scalar tail runs too; one activation block all zero, one of a single large value).
//
// Exact, each with memcmp:
//   every SIMD path this CPU runs == the scalar reference (integer sums are exact, the float steps
//     are the same operations in the same order);
//   column c of a K-column call == the 1-column call of that column, for K = 1..9;
//   the backend's MUL_MAT in a ggml graph == rd_bk_rows, on a pool and with packed weights;
//   every SIMD path on rd_bk_pack's copy == the scalar reference.
// Bounded: |y - the double-precision product of ggml's dequantized weights and the unquantized
//   activations| <= sum_k |w_k| dx / 2 (the activation rounding) + 1e-5 sum_k |w_k x_k|.
// Also: a NaN activation makes its own column NaN and no other; the backend takes Q4_1 products
// and refuses others, and takes nothing outside an rd_body_scope(true) (contexts of 2+ threads);
// the tiny model with Q4_1 layers passes the model's batch-invariance check.
#include "harness.h"
#include "body_kernel.h"
#include "internal.h"
#include "thread_pool.h"

#include "ggml-backend.h"
#include "ggml-cpu.h"
#include "ggml.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

static uint32_t g_rng = 4242;
static float uniform() { // [-1, 1)
    g_rng = g_rng * 1664525u + 1013904223u;
    return (float) ((g_rng >> 8) / 8388608.0) - 1.0f;
}

struct wmat { // a Q4_1, Q5_0, Q4_K or Q6_K matrix
    std::vector<uint8_t> bytes;
    std::vector<float>   deq; // ggml's dequantization, [V][d]
    int32_t V = 0, d = 0;
    ggml_type type = GGML_TYPE_Q4_1;
    rd_bk_job job(const rd_bk_scratch & s, int32_t K, float * y) const {
        rd_bk_job j{bytes.data(), ggml_row_size(type, d), V, d / RD_BK_QK, K, &s, y, (size_t) V};
        rd_bk_takes(type, true, rd_hk_isa::avx512_vnni, &j.type);
        return j;
    }
};

static wmat make_matrix(int32_t V, int32_t d, ggml_type type = GGML_TYPE_Q4_1) {
    wmat m;
    m.V = V, m.d = d, m.type = type;
    std::vector<float> w((size_t) V * d);
    for (float & v : w) v = uniform() * 0.1f + 0.02f; // an offset, so the minimum term matters
    m.bytes.resize(ggml_row_size(type, d) * V);
    ggml_quantize_chunk(type, w.data(), m.bytes.data(), 0, V, d, nullptr);
    m.deq.resize(w.size());
    ggml_get_type_traits(type)->to_float(m.bytes.data(), m.deq.data(), (int64_t) w.size());
    return m;
}

static std::vector<float> make_x(int32_t K, int32_t d) {
    std::vector<float> x((size_t) K * d);
    for (float & v : x) v = uniform() * 2.0f;
    for (int32_t k = 0; k < 32 && d >= 64; k++) x[32 + k] = 0.0f; // column 0, block 1: all zero
    if (K > 1) x[(size_t) d + 5] = 300.0f;                          // column 1: one large value
    return x;
}

// packed: through rd_bk_pack's copy (the SIMD paths read it; rows past it in place)
static std::vector<float> run(const wmat & m, const float * x, int32_t K, rd_hk_isa isa, bool packed = false) {
    rd_bk_scratch s;
    rd_bk_quantize(x, (size_t) m.d, K, m.d, s);
    std::vector<float> y((size_t) K * m.V);
    rd_bk_job j = m.job(s, K, y.data());
    rd_bk_packs packs;
    if (packed) j.P = packs.get(j.W, j.row_bytes, j.V, j.nb, j.type);
    rd_bk_rows(j, 0, m.V, isa);
    return y;
}

static bool same(const std::vector<float> & a, const std::vector<float> & b) {
    return a.size() == b.size() && memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// The SIMD quantizer writes the reference's bytes: random blocks, an all-zero block, ties
// (amax 127: x.5 rounds to even), -0, a NaN block and an infinite one.
static void check_quantize() {
    const int32_t K = 5, d = 32 * 6;
    std::vector<float> x = make_x(K, d);
    float * t = &x[(size_t) 2 * d]; // column 2: block 0 ties, block 1 NaN, block 2 -inf, block 3 -0
    for (int32_t k = 0; k < 32; k++) t[k] = (float) (k % 2 ? k : -k) + 0.5f;
    t[31] = 127.0f;
    t[32 + 7] = NAN;
    t[64 + 3] = -INFINITY;
    for (int32_t k = 96; k < 128; k++) t[k] = -0.0f;
    rd_bk_scratch a, b;
    rd_bk_quantize(x.data(), (size_t) d, K, d, a);
    rd_bk_quantize_ref(x.data(), (size_t) d, K, d, b);
    auto eq = [](const auto & u, const auto & v) { return u.size() == v.size() && memcmp(u.data(), v.data(), u.size() * sizeof(u[0])) == 0; };
    CHECK(eq(a.qx, b.qx) && eq(a.dx, b.dx) && eq(a.sx, b.sx) && eq(a.hs, b.hs) && eq(a.pat, b.pat),
          "the quantizer this CPU runs writes the reference's bytes");
    CHECK(std::isnan(b.dx[(size_t) 2 * 6 + 1]) && std::isnan(b.dx[(size_t) 2 * 6 + 2]) && b.dx[(size_t) 2 * 6 + 3] == 0.0f,
          "NaN and infinite blocks get NaN scales, a -0 block a zero one");
}

static void check_matrix(int32_t V, int32_t d, ggml_type type = GGML_TYPE_Q4_1) {
    const int32_t K = 9;
    const wmat m = make_matrix(V, d, type);
    const char * tn = ggml_type_name(type);
    const std::vector<float> x = make_x(K, d);
    const std::vector<float> ref = run(m, x.data(), K, rd_hk_isa::scalar);

    // against the double-precision product
    rd_bk_scratch s;
    rd_bk_quantize(x.data(), (size_t) d, K, d, s);
    double worst = 0.0;
    for (int32_t c = 0; c < K; c++)
        for (int32_t r = 0; r < V; r++) {
            double exact = 0.0, bound = 0.0, mag = 0.0;
            for (int32_t k = 0; k < d; k++) {
                const double w = m.deq[(size_t) r * d + k], xv = x[(size_t) c * d + k];
                exact += w * xv;
                mag += std::fabs(w * xv);
                bound += std::fabs(w) * s.dx[(size_t) c * (d / 32) + k / 32] / 2.0;
            }
            const double err = std::fabs(ref[(size_t) c * V + r] - exact);
            worst = std::max(worst, err / (bound + 1e-5 * mag));
        }
    printf("%s V=%d d=%d: largest error / bound %.3f\n", tn, V, d, worst);
    CHECK(worst <= 1.0, "%s V=%d d=%d: the kernel is within the activation rounding of the exact product", tn, V, d);

    // every SIMD path this CPU runs: the reference's bits
    for (rd_hk_isa isa : {rd_hk_isa::avx2, rd_hk_isa::avx2_vnni, rd_hk_isa::avx512_vnni}) {
        if (!rd_hk_isa_supported(isa)) continue;
        CHECK(same(run(m, x.data(), K, isa), ref), "%s V=%d d=%d: %s == scalar", tn, V, d, rd_hk_isa_name(isa));
    }
    for (rd_hk_isa isa : {rd_hk_isa::avx2, rd_hk_isa::avx2_vnni, rd_hk_isa::avx512_vnni}) {
        if (!rd_hk_isa_supported(isa)) continue;
        for (int32_t k = 1; k <= K; k++) {
            const std::vector<float> y = run(m, x.data(), k, isa, true);
            CHECK(memcmp(y.data(), ref.data(), (size_t) k * V * sizeof(float)) == 0,
                  "%s V=%d d=%d: %s on the packed copy, %d columns == scalar", tn, V, d, rd_hk_isa_name(isa), k);
        }
    }
    const rd_hk_isa best = rd_hk_best_isa();
    // a column's bits do not depend on how many columns share the call
    for (int32_t k = 1; k <= K; k++) {
        const std::vector<float> y = run(m, x.data(), k, best);
        for (int32_t c = 0; c < k; c++) {
            const std::vector<float> one = run(m, x.data() + (size_t) c * d, 1, best);
            CHECK(memcmp(y.data() + (size_t) c * V, one.data(), (size_t) V * sizeof(float)) == 0,
                  "%s V=%d d=%d: column %d of a %d-column call == its 1-column call", tn, V, d, c, k);
        }
    }
    // NaN stays in its column
    std::vector<float> xn = x;
    xn[(size_t) 2 * d + 7] = NAN;
    const std::vector<float> yn = run(m, xn.data(), K, best);
    bool own = true, others = true;
    for (int32_t c = 0; c < K; c++)
        for (int32_t r = 0; r < V; r++) {
            const float v = yn[(size_t) c * V + r];
            if (c == 2) own = own && std::isnan(v);
            else others = others && v == ref[(size_t) c * V + r];
        }
    CHECK(own && others, "%s V=%d d=%d: a NaN activation makes its column NaN and leaves the others", tn, V, d);
}

// Sessions of 1 and 2 threads send their products to the backend (ggml itself on one
// thread, the products on the session's pool), and both decode the same tokens.
static void check_sessions(rd_model * m, bool registered) {
    CHECK(m->body_kernel == registered, "the model is marked for the body kernel exactly when the kernel takes its layers");
    int32_t first[2][4] = {};
    for (int32_t threads : {1, 2}) {
        rd_session_params p;
        rd_session_default_params(&p);
        p.n_ctx = 256;
        p.n_threads = threads;
        rd_session * s = nullptr;
        if (!CHECK_OK(rd_session_init(m, nullptr, &p, &s))) continue;
        rd_sampler_params sp;
        rd_sampler_default_params(&sp);
        const int32_t prompt[4] = {1, 300, 301, 302};
        int32_t * out = first[threads - 1];
        rd_step_result r;
        const uint64_t before = rd_body_products();
        CHECK_OK(rd_session_prefill(s, prompt, 4, &sp));
        for (int32_t i = 0; i < 4; i++) CHECK_OK(rd_session_step(s, false, 1, out + i, nullptr, &r));
        const bool used = rd_body_products() > before;
        CHECK(used == registered, "%d thread(s): the body kernel %s", threads, used ? "ran" : "did not run");
        rd_session_free(s);
    }
    CHECK(memcmp(first[0], first[1], sizeof first[0]) == 0, "1 and 2 threads decode the same 4 tokens");
}

// The teacher of distillation decodes its parallel sequences on the backend too (ggml on one
// thread, the products on its own pool), and 1 and 2 threads record the same bytes.
static void check_teacher(rd_model * m, bool registered) {
    std::vector<uint8_t> files[2];
    const int32_t tokens[9] = {1, 300, 301, 302, 1, 310, 311, 1, 320};
    const int64_t offsets[4] = {0, 4, 7, 9};
    for (int32_t threads : {1, 2}) {
        rd_teacher_params tp;
        rd_teacher_default_params(&tp);
        tp.n_parallel = 2;
        tp.max_new_tokens = 6;
        tp.n_ctx_seq = 64;
        tp.n_threads = threads;
        const char * path = threads == 1 ? "test_body_kernel_t1.rdt" : "test_body_kernel_t2.rdt";
        rd_teacher * t = nullptr;
        const uint64_t before = rd_body_products();
        if (!CHECK_OK(rd_teacher_init(m, &tp, tokens, offsets, 3, path, &t))) continue;
        rd_teacher_progress pr{};
        for (int guard = 0; guard < 1000 && !pr.finished; guard++)
            if (!CHECK_OK(rd_teacher_run(t, 100, &pr))) break;
        rd_teacher_free(t);
        CHECK(pr.finished == 1 && pr.n_done == 3, "%d thread(s): the teacher answered the 3 prompts", threads);
        const bool used = rd_body_products() > before;
        CHECK(used == registered, "%d thread(s): the teacher's products %s the body kernel", threads, used ? "ran on" : "did not run on");
        if (FILE * f = fopen(path, "rb")) {
            int c;
            while ((c = fgetc(f)) != EOF) files[threads - 1].push_back((uint8_t) c);
            fclose(f);
        }
        remove(path);
    }
    CHECK(!files[0].empty() && files[0] == files[1], "1 and 2 threads record the same teacher file (%zu and %zu bytes)",
          files[0].size(), files[1].size());
}

// The pool the backend splits products across, spinning or sleeping between calls, and the
// chunks its parts share out: every item is done exactly once per call, whichever parts join.
// The job lives on the stack of one iteration, so a worker that touched it after the call
// returned would be a use after scope (ASan in CI).
static void check_pool() {
    for (int32_t spin : {0, 50}) {
        rd_pool pool(3, spin);
        bool all = true;
        for (int32_t call = 0; call < 2000 && all; call++) {
            const int32_t total = 50 + call % 30, align = 1 + call % 8; // chunks end short at total
            struct job { rd_chunks work; std::atomic<int32_t> done[80]; } jb{rd_chunks(total, align, 3), {}};
            for (auto & d : jb.done) d.store(0);
            pool.run([](void * a, int32_t, int32_t) {
                auto * jj = static_cast<job *>(a);
                jj->work.take([&](int32_t i0, int32_t i1) {
                    for (int32_t i = i0; i < i1; i++) jj->done[i].fetch_add(1);
                });
            }, &jb);
            for (int32_t i = 0; i < 80; i++) all = all && jb.done[i].load() == (i < total ? 1 : 0);
        }
        CHECK(all, "spin %d us: 2000 calls, every item of the chunks done once", spin);
    }
    bool aligned = true; // chunks start on whole units of align
    struct starts { rd_chunks work; int32_t n = 0; bool ok = true; } st{rd_chunks(1000, 8, 2)};
    st.work.take([&](int32_t i0, int32_t i1) { st.ok = st.ok && i0 % 8 == 0 && i1 > i0; st.n++; });
    aligned = st.ok && st.n >= 2 && st.n <= 8;
    CHECK(aligned, "1000 items in units of 8 over 2 parts: %d chunks, each starting on a unit", st.n);
}

// The backend through a ggml graph: MUL_MAT of a Q4_1 weight by K columns.
static void check_backend() {
    ggml_backend_dev_t dev = ggml_backend_dev_by_name("RD-Q4_1");
    const rd_hk_isa best = rd_hk_best_isa();
    const bool simd = best == rd_hk_isa::avx2 || best == rd_hk_isa::avx2_vnni || best == rd_hk_isa::avx512_vnni;
    CHECK(simd == (dev != nullptr), "the backend is registered exactly when the CPU has a SIMD path (%s)",
          rd_hk_isa_name(best));
    if (!dev) return;
    CHECK(ggml_backend_dev_type(dev) == GGML_BACKEND_DEVICE_TYPE_ACCEL, "an ACCEL device");

    const int32_t V = 16 * 5 + 3, d = 96, K = 5;
    const wmat m = make_matrix(V, d);
    const wmat m5 = make_matrix(16 * 5, d, GGML_TYPE_Q5_0);
    const std::vector<float> x = make_x(K, d);
    ggml_init_params ip = {8 * ggml_tensor_overhead() + 2 * ggml_graph_overhead() + 1024, nullptr, true};
    ggml_context * ctx = ggml_init(ip);
    ggml_tensor * w = ggml_new_tensor_2d(ctx, GGML_TYPE_Q4_1, d, V);
    ggml_tensor * xt = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, d, K);
    ggml_tensor * y = ggml_mul_mat(ctx, w, xt);
    ggml_tensor * q8 = ggml_new_tensor_2d(ctx, GGML_TYPE_Q8_0, d, V);
    ggml_tensor * y8 = ggml_mul_mat(ctx, q8, xt);
    ggml_tensor * w5 = ggml_new_tensor_2d(ctx, GGML_TYPE_Q5_0, d, m5.V);
    ggml_tensor * y5 = ggml_mul_mat(ctx, w5, xt);
    CHECK(!ggml_backend_dev_supports_op(dev, y), "takes nothing outside an rd_body_scope(true)");
    rd_body_scope on(true);
    CHECK(ggml_backend_dev_supports_op(dev, y), "takes a Q4_1 product");
    CHECK(!ggml_backend_dev_supports_op(dev, y8), "leaves a Q8_0 product to ggml-cpu");
    CHECK(!ggml_backend_dev_supports_op(dev, y5), "leaves a Q5_0 product to ggml-cpu without packed copies");
    {
        rd_body_scope off(false); // a context of more threads inside
        CHECK(!ggml_backend_dev_supports_op(dev, y), "takes nothing inside an rd_body_scope(false)");
    }
    CHECK(ggml_backend_dev_supports_op(dev, y), "the outer scope is back");
    ggml_cgraph * g = ggml_new_graph(ctx);
    ggml_build_forward_expand(g, y);
    ggml_build_forward_expand(g, y5);
    ggml_backend_t be = ggml_backend_dev_init(dev, nullptr);
    ggml_backend_buffer_t buf = ggml_backend_alloc_ctx_tensors_from_buft(ctx, ggml_backend_cpu_buffer_type());
    if (CHECK(be && buf, "backend and buffer")) {
        ggml_backend_tensor_set(w, m.bytes.data(), 0, m.bytes.size());
        ggml_backend_tensor_set(w5, m5.bytes.data(), 0, m5.bytes.size());
        ggml_backend_tensor_set(xt, x.data(), 0, x.size() * sizeof(float));
        {
            rd_body_scope only_q41(true); // no packed copies: the Q5_0 product is not taken
            ggml_cgraph * g1 = ggml_new_graph(ctx);
            ggml_build_forward_expand(g1, y);
            CHECK(ggml_backend_graph_compute(be, g1) == GGML_STATUS_SUCCESS, "graph computes");
        }
        std::vector<float> got((size_t) K * V);
        ggml_backend_tensor_get(y, got.data(), 0, got.size() * sizeof(float));
        CHECK(same(got, run(m, x.data(), K, best)), "the backend's MUL_MAT == rd_bk_rows");
        rd_pool pool(3, 50);
        rd_body_scope pooled(true, &pool);
        std::fill(got.begin(), got.end(), 0.0f);
        ggml_backend_tensor_set(y, got.data(), 0, got.size() * sizeof(float));
        CHECK(ggml_backend_graph_compute(be, g) == GGML_STATUS_SUCCESS, "graph computes on a pool");
        ggml_backend_tensor_get(y, got.data(), 0, got.size() * sizeof(float));
        CHECK(same(got, run(m, x.data(), K, best)), "split across a pool of 3: the same bits");
        rd_bk_packs packs; // the model's packed copies (used on the AVX-512 path)
        rd_body_scope packed(true, &pool, true, &packs);
        const bool q5 = best == rd_hk_isa::avx512_vnni;
        CHECK(ggml_backend_dev_supports_op(dev, y5) == q5, "with packed copies, %s a Q5_0 product (%s)",
              q5 ? "takes" : "leaves", rd_hk_isa_name(best));
        for (int round = 0; round < 2; round++) { // the copy made, then found
            std::fill(got.begin(), got.end(), 0.0f);
            ggml_backend_tensor_set(y, got.data(), 0, got.size() * sizeof(float));
            CHECK(ggml_backend_graph_compute(be, g) == GGML_STATUS_SUCCESS, "graph computes on packed weights");
            ggml_backend_tensor_get(y, got.data(), 0, got.size() * sizeof(float));
            CHECK(same(got, run(m, x.data(), K, best)), "packed weights split across a pool of 3: the same bits");
            if (!q5) continue;
            std::vector<float> got5((size_t) K * m5.V);
            ggml_backend_tensor_get(y5, got5.data(), 0, got5.size() * sizeof(float));
            CHECK(same(got5, run(m5, x.data(), K, best, true)), "the backend's Q5_0 MUL_MAT == rd_bk_rows on the packed copy");
        }
    }
    ggml_backend_buffer_free(buf);
    ggml_backend_free(be);
    ggml_free(ctx);
}

// A model with Q5_0 layers: a body-kernel model where the CPU has AVX-512 VNNI (the packed Q5_0
// path), with the same checks as the Q4_1 one; else ggml keeps it.
static void check_q5_model() {
    rd_model * m = rd_test_open_model_q50();
    if (!m) return;
    const char * why = rd_model_batch_invariance(m);
    CHECK(why[0] == '\0', "the Q5_0 tiny model is batch invariant (%s)", why);
    const bool q5 = ggml_backend_dev_by_name("RD-Q4_1") && rd_hk_best_isa() == rd_hk_isa::avx512_vnni;
    check_sessions(m, q5);
    check_teacher(m, q5);
    rd_model_free(m);
}

int main() {
    check_quantize();
    check_matrix(4 * 11 + 3, 32 * 7);
    check_matrix(64, 32 * 18);
    check_matrix(3, 32); // tail rows only
    check_matrix(16 * 5 + 8 + 4 + 2, 32 * 5); // packed groups, an 8-row group, a 4-row one and the tail
    check_matrix(16 * 4, 32 * 20, GGML_TYPE_Q5_0); // Q5_0: packed groups only
    check_matrix(16 * 3 + 5, 32 * 3, GGML_TYPE_Q5_0); // and the tail
    check_matrix(16 * 4, 256 * 3, GGML_TYPE_Q4_K);
    check_matrix(16 * 2 + 7, 256, GGML_TYPE_Q4_K);
    check_matrix(16 * 4, 256 * 3, GGML_TYPE_Q6_K);
    check_matrix(16 * 2 + 7, 256, GGML_TYPE_Q6_K);
    check_pool();
    // a model with Q4_1 layers: loading it registers the backend and checks batch invariance
    // (rd_model_batch_invariance), which its plain and speculative steps rely on (test_exact)
    rd_model * m = rd_test_open_model_q41();
    if (m) {
        const char * why = rd_model_batch_invariance(m);
        CHECK(why[0] == '\0', "the Q4_1 tiny model is batch invariant (%s)", why);
        check_backend();
        check_sessions(m, ggml_backend_dev_by_name("RD-Q4_1") != nullptr);
        check_teacher(m, ggml_backend_dev_by_name("RD-Q4_1") != nullptr);
        rd_model_free(m);
    }
    check_q5_model();
    return rd_test_done();
}
