// test_drafter_ref.cpp - the drafter's ggml forward graph and beam search against a plain-loop
// reference in double precision on the tiny test model. Internal test: it links the library's
// sources, because rd_drafter_beam_search is not in the public header.
//
// Checks, printing the max difference of each:
//   f32 weights: beams equal the reference beam search token for token, log-probs within 1e-4
//                (the beam's and each prefix's);
//   f16 / q8_0 : every beam's reported log-prob within a loose tolerance of the reference
//                log-prob of that same token sequence (quantization may reorder near-ties,
//                so the beams themselves are not compared), and beams sorted best first;
//   V' < B     : the beams that exist are distinct, the rest copy the last one;
//   a search the gate stops after k steps equals the search of length k;
//   bad arguments are refused; repeated searches (other B in between, 1 or 2 threads, the LM
//   head on a pool or not) agree;
//   F16 / Q8_0 drafters run on the host path (drafter_host.h) where the CPU has a SIMD head
//   kernel, so the tolerances above cover it;
//   gguf_matrix reads rows of F32 / F16 / BF16 / Q8_0 / Q4_K matrices exactly as ggml
//   dequantizes them, and refuses files without a readable tensor of that name.
// Shape legend: B = beams, L = draft length, d = hidden, e = head width, V' = draft vocab.
#include "harness.h"
#include "drafter_graph.h"
#include "gguf_matrix.h"
#include "head_kernel.h"
#include "gguf.h"
#include "thread_pool.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

static const char * const F_DRAFTER = "test_drafter_ref.gguf";
static const char * const F_EMBD    = "test_drafter_ref_embd.gguf";

// A dense weight dequantized to double, row-major by output: w[o * in + i].
struct mat {
    int64_t in = 0, out = 0;
    std::vector<double> w;
};

static mat to_mat(const ggml_tensor * t) {
    mat m;
    m.in = t->ne[0];
    m.out = t->ne[1];
    std::vector<uint8_t> raw(ggml_nbytes(t));
    ggml_backend_tensor_get(t, raw.data(), 0, raw.size());
    std::vector<float> row((size_t) m.in);
    m.w.resize((size_t) (m.in * m.out));
    const size_t row_bytes = ggml_row_size(t->type, m.in);
    for (int64_t o = 0; o < m.out; o++) {
        const uint8_t * src = raw.data() + (size_t) o * row_bytes;
        if (t->type == GGML_TYPE_F32) memcpy(row.data(), src, row_bytes);
        else ggml_get_type_traits(t->type)->to_float(src, row.data(), m.in);
        for (int64_t i = 0; i < m.in; i++) m.w[(size_t) (o * m.in + i)] = row[(size_t) i];
    }
    return m;
}

static std::vector<double> matvec(const mat & m, const std::vector<double> & x) {
    std::vector<double> y((size_t) m.out, 0.0);
    for (int64_t o = 0; o < m.out; o++) {
        double acc = 0.0;
        for (int64_t i = 0; i < m.in; i++) acc += m.w[(size_t) (o * m.in + i)] * x[(size_t) i];
        y[(size_t) o] = acc;
    }
    return y;
}

static double silu(double x) { return x / (1.0 + std::exp(-x)); }

// The drafter written as plain loops over double copies of its weights.
struct reference {
    const rd_drafter * d;
    mat rnn_w, rnn_u, proj, lm_head;
    std::vector<mat> blk_w;
    std::vector<double> rnn_b;
    std::vector<std::vector<double>> blk_b;

    explicit reference(const rd_drafter * dr) : d(dr) {
        rnn_w = to_mat(d->w.rnn_w);
        rnn_u = to_mat(d->w.rnn_u);
        if (d->w.proj_w) proj = to_mat(d->w.proj_w);
        lm_head = to_mat(d->w.lm_head);
        rnn_b = to_mat(d->w.rnn_b).w;
        for (int32_t i = 0; i < d->hp.n_layers; i++) {
            blk_w.push_back(to_mat(d->w.blk_w[i]));
            blk_b.push_back(to_mat(d->w.blk_b[i]).w);
        }
    }

    // s_k = SiLU(W E(tok) + U s_{k-1} + b); s_prev empty = s_0 = 0
    std::vector<double> rnn(int32_t target_tok, const std::vector<double> & s_prev) const {
        std::vector<float> e((size_t) d->hp.n_embd);
        d->m->embd->row(target_tok, e.data());
        std::vector<double> x = matvec(rnn_w, std::vector<double>(e.begin(), e.end()));
        if (!s_prev.empty()) {
            const std::vector<double> u = matvec(rnn_u, s_prev);
            for (size_t i = 0; i < x.size(); i++) x[i] += u[i];
        }
        for (size_t i = 0; i < x.size(); i++) x[i] = silu(x[i] + rnn_b[i]);
        return x;
    }

    // log-softmax over V' of head([h ; s])
    std::vector<double> logp(const std::vector<double> & h, const std::vector<double> & s) const {
        std::vector<double> z(h);
        z.insert(z.end(), s.begin(), s.end());
        if (d->w.proj_w) z = matvec(proj, z);
        for (size_t l = 0; l < blk_w.size(); l++) {
            const std::vector<double> a = matvec(blk_w[l], z);
            for (size_t i = 0; i < z.size(); i++) z[i] += silu(a[i] + blk_b[l][i]);
        }
        std::vector<double> x = matvec(lm_head, z);
        const double mx = *std::max_element(x.begin(), x.end());
        double sum = 0.0;
        for (double v : x) sum += std::exp(v - mx);
        const double lse = mx + std::log(sum);
        for (double & v : x) v -= lse;
        return x;
    }

    // Summed log-prob of draft indices toks[0..L) after g.
    double score(const std::vector<double> & h, int32_t g, const int32_t * toks, int32_t L) const {
        std::vector<double> s = rnn(g, {});
        double total = 0.0;
        for (int32_t k = 0; k < L; k++) {
            total += logp(h, s)[(size_t) toks[k]];
            s = rnn(d->vocab_ids[(size_t) toks[k]], s);
        }
        return total;
    }

    struct beam {
        std::vector<int32_t> toks; // draft indices
        double score = 0.0;
        std::vector<double> s;     // state after the last token fed
    };

    // Beam search by the book: score every continuation, sort them all, keep the best B.
    std::vector<beam> search(const std::vector<double> & h, int32_t g, int32_t B, int32_t L) const {
        const int32_t V = d->hp.n_draft_vocab;
        std::vector<beam> live(1);
        live[0].s = rnn(g, {});
        for (int32_t k = 0; k < L; k++) {
            struct cand { double score; int32_t beam, tok; };
            std::vector<cand> all;
            for (int32_t b = 0; b < (int32_t) live.size(); b++) {
                const std::vector<double> lp = logp(h, live[(size_t) b].s);
                for (int32_t j = 0; j < V; j++) all.push_back({live[(size_t) b].score + lp[(size_t) j], b, j});
            }
            std::sort(all.begin(), all.end(), [](const cand & a, const cand & c) {
                if (a.score != c.score) return a.score > c.score;
                return a.beam != c.beam ? a.beam < c.beam : a.tok < c.tok;
            });
            std::vector<beam> next;
            for (size_t i = 0; i < all.size() && (int32_t) next.size() < B; i++) {
                beam nb = live[(size_t) all[i].beam];
                nb.toks.push_back(all[i].tok);
                nb.score = all[i].score;
                nb.s = rnn(d->vocab_ids[(size_t) all[i].tok], nb.s);
                next.push_back(nb);
            }
            live = next;
        }
        while ((int32_t) live.size() < B) live.push_back(live.back());
        return live;
    }
};

static uint64_t rng_state = 0x243F6A8885A308D3ull;
static double uniform() { // xorshift64*, in [-1, 1)
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (double) ((rng_state * 2685821657736338717ull) >> 11) * 0x1.0p-52 - 1.0;
}

static rd_drafter * make_drafter(const rd_model * m, int32_t n_draft_vocab, int32_t n_layers,
                                 int32_t n_proj, int32_t weight_type) {
    rd_drafter * d = nullptr;
    if (!CHECK_OK(rd_test_write_drafter(m, F_DRAFTER, n_draft_vocab, n_layers, n_proj, weight_type, 42))) return nullptr;
    if (!CHECK_OK(rd_drafter_load(F_DRAFTER, m, &d))) return nullptr;
    // one thread: these graphs are tiny, and spinning ggml workers only slow a busy machine
    rd_drafter_set_threads(d, 1);
    return d;
}

// Runs searches from a few (h, g) and compares; exact = f32 (beams must match the reference).
// tol is per draft step: a beam's summed log-prob may be off by L * tol.
static void check_drafter(const rd_model * m, rd_drafter * d, const char * label, bool exact, double tol,
                          const int32_t (*shapes)[2], int n_shapes) {
    const reference ref(d);
    double max_diff = 0.0;
    for (int trial = 0; trial < 3; trial++) {
        std::vector<double> h((size_t) m->n_embd);
        for (double & v : h) v = 2.0 * uniform();
        const std::vector<float> hf(h.begin(), h.end());
        const std::vector<double> hd(hf.begin(), hf.end()); // the reference sees the same floats
        const int32_t g = (int32_t) ((uniform() + 1.0) * 0.5 * m->n_vocab) % m->n_vocab;
        for (int si = 0; si < n_shapes; si++) {
            const int32_t B = shapes[si][0], L = shapes[si][1];
            std::vector<int32_t> beams((size_t) (B * L));
            std::vector<float> logp((size_t) B), step_logp((size_t) (B * L));
            if (!CHECK_OK(rd_drafter_beam_search(d, hf.data(), g, B, L, beams.data(), logp.data(), step_logp.data()))) return;
            const std::vector<reference::beam> rb = ref.search(hd, g, B, L);
            for (int32_t b = 0; b < B; b++) {
                if (b > 0) CHECK(logp[(size_t) b] <= logp[(size_t) b - 1], "%s: beams sorted best first", label);
                std::vector<int32_t> idx((size_t) L); // back to draft indices for the reference
                for (int32_t k = 0; k < L; k++) {
                    const int32_t t = beams[(size_t) (b * L + k)];
                    const auto it = std::find(d->vocab_ids.begin(), d->vocab_ids.end(), t);
                    if (!CHECK(it != d->vocab_ids.end(), "%s: token %d is in the draft vocab", label, t)) return;
                    idx[(size_t) k] = (int32_t) (it - d->vocab_ids.begin());
                }
                // each prefix's summed log-prob (the last one is the beam's)
                CHECK(step_logp[(size_t) (b * L + L - 1)] == logp[(size_t) b], "%s: last step_logp is the beam's", label);
                for (int32_t k = 0; k + 1 < L; k++)
                    CHECK_NEAR(step_logp[(size_t) (b * L + k)], ref.score(hd, g, idx.data(), k + 1), tol * (k + 1));
                const double want = exact ? rb[(size_t) b].score : ref.score(hd, g, idx.data(), L);
                max_diff = std::max(max_diff, std::fabs(want - logp[(size_t) b]) / L);
                CHECK_NEAR(logp[(size_t) b], want, tol * L);
                if (exact)
                    CHECK(idx == rb[(size_t) b].toks, "%s: B=%d L=%d trial %d: beam %d equals the reference", label, B, L, trial, b);
            }
        }
    }
    printf("%-24s max |logp - reference| per draft step = %.3g (tolerance %.3g)\n", label, max_diff, tol);
    // F16 / Q8_0 weights on a CPU with a SIMD head kernel run on the host path (drafter_host.h),
    // which the comparisons above then covered; F32 weights on the graph
    const bool host = !exact && rd_hk_best_isa() != rd_hk_isa::scalar && !getenv("RD_DRAFTER_HOST");
    CHECK(rd_drafter_on_host(d) == host, "%s: the search ran on the %s path", label, rd_drafter_on_host(d) ? "host" : "graph");

    // the LM head's rows on a pool of 3 (the head kernel, for F16 and Q8_0 heads): the same bits
    std::vector<float> hf((size_t) m->n_embd, 0.25f);
    int32_t alone[4 * 3], pooled[4 * 3];
    float lp_alone[4], lp_pooled[4];
    rd_pool pool(3, 50);
    CHECK_OK(rd_drafter_beam_search(d, hf.data(), 7, 4, 3, alone, lp_alone));
    CHECK_OK(rd_drafter_beam_search(d, hf.data(), 7, 4, 3, pooled, lp_pooled, nullptr, {}, nullptr, &pool));
    CHECK(memcmp(alone, pooled, sizeof alone) == 0 && memcmp(lp_alone, lp_pooled, sizeof lp_alone) == 0,
          "%s: the search with the LM head on a pool of 3 == on the caller's thread", label);
}

static void test_against_reference(const rd_model * m) {
    static const int32_t shapes[][2] = { {1, 1}, {1, 5}, {4, 4}, {3, 2}, {16, 3}, {8, 16} };
    const int n_shapes = (int) (sizeof shapes / sizeof shapes[0]);
    struct config { int32_t n_draft_vocab, n_layers, n_proj, type; const char * label; bool exact; double tol; };
    static const config configs[] = {
        { 0,   2, 0,  RD_WEIGHTS_F32,  "f32, V'=V, 2 blocks",    true,  1e-5 },
        { 100, 1, 96, RD_WEIGHTS_F32,  "f32, V'=100, proj 96",   true,  1e-5 },
        { 300, 0, 0,  RD_WEIGHTS_F32,  "f32, V'=300, no blocks", true,  1e-5 },
        { 200, 2, 0,  RD_WEIGHTS_F16,  "f16, V'=200, 2 blocks",  false, 2e-3 },
        { 200, 2, 64, RD_WEIGHTS_Q8_0, "q8_0, V'=200, proj 64",  false, 5e-2 },
    };
    for (const config & c : configs) {
        rd_drafter * d = make_drafter(m, c.n_draft_vocab, c.n_layers, c.n_proj, c.type);
        if (d) check_drafter(m, d, c.label, c.exact, c.tol, shapes, n_shapes);
        rd_drafter_free(d);
    }
}

// V' < B: step 1 has V' distinct beams, later steps up to n_live * V'; the rest copy the last.
static void test_small_vocab(const rd_model * m) {
    static const int32_t shapes[][2] = { {4, 1}, {4, 3}, {16, 2} };
    rd_drafter * d = make_drafter(m, 2, 1, 0, RD_WEIGHTS_F32);
    if (d) check_drafter(m, d, "f32, V'=2 < B", true, 1e-5, shapes, 3);
    if (d) {
        std::vector<float> h((size_t) m->n_embd, 0.5f);
        int32_t beams[4 * 1];
        float logp[4];
        CHECK_OK(rd_drafter_beam_search(d, h.data(), 5, 4, 1, beams, logp));
        CHECK(beams[0] != beams[1], "two distinct one-token beams");
        CHECK(beams[2] == beams[1] && beams[3] == beams[1] && logp[3] == logp[1], "the rest copy the last real one");
    }
    rd_drafter_free(d);

    d = make_drafter(m, 1, 1, 0, RD_WEIGHTS_F32);
    if (d) {
        std::vector<float> h((size_t) m->n_embd, 0.5f);
        int32_t beams[3 * 2];
        float logp[3];
        CHECK_OK(rd_drafter_beam_search(d, h.data(), 5, 3, 2, beams, logp));
        for (int i = 0; i < 6; i++) CHECK_EQ_INT(beams[i], d->vocab_ids[0]);
        for (int b = 0; b < 3; b++) CHECK_NEAR(logp[b], 0.0, 1e-6);
    }
    rd_drafter_free(d);
}

static void test_args_and_repeats(const rd_model * m) {
    rd_drafter * d = make_drafter(m, 64, 1, 0, RD_WEIGHTS_F32);
    if (!d) return;
    std::vector<float> h((size_t) m->n_embd, 0.25f);
    int32_t beams[RD_MAX_BEAMS * RD_MAX_BEAM_LENGTH];
    float logp[RD_MAX_BEAMS];
    CHECK_EQ_INT(rd_drafter_beam_search(d, h.data(), 1, 0, 4, beams, logp), RD_ERR_INVALID_ARG);
    CHECK_EQ_INT(rd_drafter_beam_search(d, h.data(), 1, RD_MAX_BEAMS + 1, 4, beams, logp), RD_ERR_INVALID_ARG);
    CHECK_EQ_INT(rd_drafter_beam_search(d, h.data(), 1, 4, 0, beams, logp), RD_ERR_INVALID_ARG);
    CHECK_EQ_INT(rd_drafter_beam_search(d, h.data(), 1, 4, RD_MAX_BEAM_LENGTH + 1, beams, logp), RD_ERR_INVALID_ARG);
    CHECK_EQ_INT(rd_drafter_beam_search(d, h.data(), -1, 4, 4, beams, logp), RD_ERR_INVALID_ARG);
    CHECK_EQ_INT(rd_drafter_beam_search(d, h.data(), m->n_vocab, 4, 4, beams, logp), RD_ERR_INVALID_ARG);
    CHECK_EQ_INT(rd_drafter_beam_search(d, nullptr, 1, 4, 4, beams, logp), RD_ERR_INVALID_ARG);
    CHECK_EQ_INT(rd_drafter_beam_search(nullptr, h.data(), 1, 4, 4, beams, logp), RD_ERR_INVALID_ARG);

    // the same search after other widths (graph rebuilt) and with 1 or 2 threads: same bits
    int32_t first[4 * 4], again[4 * 4];
    float lp_first[4], lp_again[4];
    rd_drafter_set_threads(d, 2);
    CHECK_OK(rd_drafter_beam_search(d, h.data(), 9, 4, 4, first, lp_first));
    CHECK_OK(rd_drafter_beam_search(d, h.data(), 9, 7, 3, beams, logp));
    rd_drafter_set_threads(d, 1);
    CHECK_OK(rd_drafter_beam_search(d, h.data(), 9, 4, 4, again, lp_again));
    CHECK(memcmp(first, again, sizeof first) == 0 && memcmp(lp_first, lp_again, sizeof lp_first) == 0,
          "repeatable across rebuilds and thread counts");

    // stopped by the gate after 2 of 4 steps: exactly the search of length 2, at stride 2; the
    // gate sees beam 0's sums of the steps done
    int32_t two[3 * 2], stopped[3 * 4], n_steps = 0, asked = 0;
    float lp_two[3], sums_two[3 * 2], lp_stopped[3], sums_stopped[3 * 4];
    CHECK_OK(rd_drafter_beam_search(d, h.data(), 9, 3, 2, two, lp_two, sums_two));
    const rd_draft_gate gate = [&](int32_t k, const float * sums) {
        asked++;
        CHECK(sums[k - 1] == sums_two[k - 1], "the gate sees beam 0's summed log-prob of step %d", k);
        return k < 2;
    };
    CHECK_OK(rd_drafter_beam_search(d, h.data(), 9, 3, 4, stopped, lp_stopped, sums_stopped, gate, &n_steps));
    CHECK_EQ_INT(n_steps, 2);
    CHECK_EQ_INT(asked, 2);
    CHECK(memcmp(two, stopped, sizeof two) == 0 && memcmp(lp_two, lp_stopped, sizeof lp_two) == 0 &&
          memcmp(sums_two, sums_stopped, sizeof sums_two) == 0, "a gated stop equals the shorter search");
    rd_drafter_free(d);
}

// Writes a GGUF whose only tensor, name, holds src ([d, V] f32) converted to type; the
// converted bytes go to *raw. Returns false when the file cannot be written.
static bool write_matrix(const char * path, const char * name, ggml_type type, int64_t d, int64_t V,
                         const std::vector<float> & src, std::vector<uint8_t> * raw) {
    const size_t row = ggml_row_size(type, d);
    raw->assign(row * (size_t) V, 0);
    if (type == GGML_TYPE_F32) memcpy(raw->data(), src.data(), raw->size());
    else if (type == GGML_TYPE_F16) ggml_fp32_to_fp16_row(src.data(), (ggml_fp16_t *) raw->data(), d * V);
    else if (type == GGML_TYPE_BF16) ggml_fp32_to_bf16_row_ref(src.data(), (ggml_bf16_t *) raw->data(), d * V);
    else ggml_quantize_chunk(type, src.data(), raw->data(), 0, V, d, nullptr);
    ggml_init_params ip = { ggml_tensor_overhead() * 2, nullptr, true };
    ggml_context * ctx = ggml_init(ip);
    ggml_tensor * t = ggml_new_tensor_2d(ctx, type, d, V);
    ggml_set_name(t, name);
    t->data = raw->data();
    gguf_context * g = gguf_init_empty();
    gguf_add_tensor(g, t);
    const bool ok = gguf_write_to_file(g, path, false);
    gguf_free(g);
    ggml_free(ctx);
    return ok;
}

static void test_gguf_matrix() {
    const int64_t d = 256, V = 10; // 256: one Q4_K super-block per row
    std::vector<float> src((size_t) (d * V));
    for (float & v : src) v = (float) uniform();
    static const ggml_type types[] = { GGML_TYPE_F32, GGML_TYPE_F16, GGML_TYPE_BF16, GGML_TYPE_Q8_0, GGML_TYPE_Q4_K };
    static const double tol[] = { 0.0, 1e-3, 1e-2, 1e-2, 0.1 };
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        const ggml_type type = types[ti];
        std::vector<uint8_t> raw;
        if (!CHECK(write_matrix(F_EMBD, "token_embd.weight", type, d, V, src, &raw), "write %s", ggml_type_name(type))) continue;
        std::string err;
        std::unique_ptr<gguf_matrix> e = gguf_matrix_open(F_EMBD, "token_embd.weight", &err);
        if (!CHECK(e != nullptr, "%s: %s", ggml_type_name(type), err.c_str())) continue;
        CHECK_EQ_INT(e->n_cols(), d);
        CHECK_EQ_INT(e->n_rows(), V);
        CHECK_EQ_INT(e->type(), type);
        CHECK(memcmp(e->data(), raw.data(), raw.size()) == 0, "%s: data() is the file's bytes", ggml_type_name(type));
        std::vector<float> got((size_t) d), want((size_t) d);
        double max_diff = 0.0;
        bool same = true;
        for (int32_t tok = 0; tok < V; tok++) {
            e->row(tok, got.data());
            const uint8_t * q = raw.data() + (size_t) tok * ggml_row_size(type, d);
            if (type == GGML_TYPE_F32) memcpy(want.data(), q, (size_t) d * sizeof(float));
            else ggml_get_type_traits(type)->to_float(q, want.data(), d);
            same = same && memcmp(got.data(), want.data(), (size_t) d * sizeof(float)) == 0;
            for (int64_t i = 0; i < d; i++)
                max_diff = std::max(max_diff, (double) std::fabs(got[(size_t) i] - src[(size_t) (tok * d + i)]));
        }
        CHECK(same, "%s: rows equal ggml's own dequantization", ggml_type_name(type));
        CHECK(max_diff <= tol[ti], "%s: max |row - original| %.3g <= %.3g", ggml_type_name(type), max_diff, tol[ti]);
    }

    std::vector<uint8_t> raw;
    std::string err;
    CHECK(write_matrix(F_EMBD, "output.weight", GGML_TYPE_F32, d, V, src, &raw), "write");
    CHECK(gguf_matrix_open(F_EMBD, "token_embd.weight", &err) == nullptr && err.find("token_embd.weight") != std::string::npos,
          "no token_embd.weight: %s", err.c_str());
    CHECK(gguf_matrix_open("no-such-file.gguf", "token_embd.weight", &err) == nullptr && !err.empty(), "missing file: %s", err.c_str());
    // truncated: the header parses, the rows run past the end of the file
    CHECK(write_matrix(F_EMBD, "token_embd.weight", GGML_TYPE_F32, d, V, src, &raw), "write");
    std::vector<char> bytes;
    if (FILE * f = fopen(F_EMBD, "rb")) {
        char buf[4096];
        for (size_t n; (n = fread(buf, 1, sizeof buf, f)) > 0;) bytes.insert(bytes.end(), buf, buf + n);
        fclose(f);
    }
    if (FILE * f = fopen(F_EMBD, "wb")) {
        fwrite(bytes.data(), 1, bytes.size() - 100, f);
        fclose(f);
    }
    CHECK(gguf_matrix_open(F_EMBD, "token_embd.weight", &err) == nullptr && err.find("truncated") != std::string::npos, "truncated: %s", err.c_str());
}

int main(void) {
    rd_model * m = rd_test_open_model(); // also loads the backends and quiets ggml's log
    test_gguf_matrix();
    if (m) {
        test_against_reference(m);
        test_small_vocab(m);
        test_args_and_repeats(m);
    }
    rd_model_free(m);
    remove(F_DRAFTER);
    remove(F_EMBD);
    return rd_test_done();
}
