// test_embed.cpp - rd_embedder (embed.cpp) against llama.cpp's own pooling: mean, first and last
// token of a generative model (pooled by the library, in chunks, the graph stopped at the final
// norm) agree with a context that pools the whole input in one ubatch, within TOL; the same
// model with a pooling type written into its GGUF (an "embedding model") takes llama.cpp's
// path and agrees too; bad input gets a status and leaves the embedder usable.
#include "harness.h"
#include "internal.h"

#include "gguf.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

// the two sides split the input into different batches (64-token chunks against one), and
// ggml's kernels round per batch shape; the tiny random model amplifies that through its layers
// (measured: up to 3.2e-4 on one component of a unit vector past 64 tokens, 0 or 3e-8 within one
// chunk)
static const double TOL = 1e-3;

static std::vector<int32_t> input_tokens(const rd_model * m, int32_t n, int32_t salt) {
    std::vector<int32_t> t((size_t) n);
    for (int32_t i = 0; i < n; i++) t[(size_t) i] = (int32_t) ((7919LL * (i + 1) + 104729LL * salt) % m->n_vocab);
    return t;
}

// llama.cpp alone: the whole input in one decode, pooled by its graph, then unit length
static std::vector<float> reference(const rd_model * m, const std::vector<int32_t> & tokens, enum llama_pooling_type pooling) {
    const int32_t n = (int32_t) tokens.size();
    llama_context_params cp = llama_context_default_params();
    cp.n_ctx = cp.n_batch = cp.n_ubatch = (uint32_t) n;
    cp.n_seq_max = 1;
    cp.n_threads = cp.n_threads_batch = 1;
    cp.embeddings = true;
    cp.pooling_type = pooling;
    cp.no_perf = true;
    llama_context * ctx = llama_init_from_model(m->lm, cp);
    std::vector<float> out;
    if (!CHECK(ctx != nullptr, "reference context")) return out;
    llama_batch b = llama_batch_init(n, 0, 1);
    for (int32_t i = 0; i < n; i++) {
        b.token[i] = tokens[(size_t) i]; b.pos[i] = i; b.n_seq_id[i] = 1; b.seq_id[i][0] = 0; b.logits[i] = true;
    }
    b.n_tokens = n;
    if (CHECK(llama_decode(ctx, b) == 0, "reference decode")) {
        const float * v = llama_get_embeddings_seq(ctx, 0);
        const int32_t d = llama_model_n_embd_out(m->lm);
        double norm = 0;
        for (int32_t j = 0; j < d; j++) norm += (double) v[j] * v[j];
        norm = std::sqrt(norm);
        for (int32_t j = 0; j < d; j++) out.push_back((float) (v[j] / norm));
    }
    llama_batch_free(b);
    llama_free(ctx);
    return out;
}

static double max_diff(const std::vector<float> & a, const std::vector<float> & b) {
    if (a.size() != b.size()) return INFINITY;
    double d = 0;
    for (size_t i = 0; i < a.size(); i++) d = std::fmax(d, std::fabs((double) a[i] - b[i]));
    return d;
}

static std::vector<float> embed(rd_embedder * e, const std::vector<int32_t> & tokens) {
    std::vector<float> out((size_t) rd_embedder_n_embd(e));
    if (!CHECK_OK(rd_embedder_embed(e, tokens.data(), (int32_t) tokens.size(), out.data()))) out.clear();
    return out;
}

static rd_embedder * open_embedder(rd_model * m, int32_t pooling, int32_t n_ctx) {
    rd_embedder_params p;
    rd_embedder_default_params(&p);
    p.pooling = pooling;
    p.n_ctx = n_ctx;
    p.n_threads = 1;
    rd_embedder * e = nullptr;
    CHECK_OK(rd_embedder_init(m, &p, &e));
    return e;
}

static void test_params() {
    rd_embedder_params p;
    memset(&p, 0xA5, sizeof p);
    rd_embedder_default_params(&p);
    CHECK_EQ_INT(p.n_ctx, 0);
    CHECK_EQ_INT(p.n_threads, 0);
    CHECK_EQ_INT(p.pooling, RD_POOLING_MODEL);
    rd_embedder_free(nullptr);
    rd_embedder_cancel(nullptr);
}

// a generative model: pooled by the library, against llama.cpp's pooling of the same input
static void test_against_llama(rd_model * m) {
    const struct { int32_t rd; enum llama_pooling_type ll; const char * name; } kinds[] = {
        {RD_POOLING_MEAN, LLAMA_POOLING_TYPE_MEAN, "mean"},
        {RD_POOLING_CLS, LLAMA_POOLING_TYPE_CLS, "cls"},
        {RD_POOLING_LAST, LLAMA_POOLING_TYPE_LAST, "last"},
    };
    for (const auto & k : kinds) {
        rd_embedder * e = open_embedder(m, k.rd, 256);
        if (!e) return;
        CHECK_EQ_INT(rd_embedder_pooling(e), k.rd);
        CHECK_EQ_INT(rd_embedder_n_embd(e), m->n_embd);
        for (int32_t n : {1, 5, 64, 150}) { // 150: three chunks, the last one partial
            const std::vector<int32_t> t = input_tokens(m, n, n);
            const std::vector<float> got = embed(e, t), want = reference(m, t, k.ll);
            const double diff = max_diff(got, want);
            printf("%s pooling, %3d tokens: max |diff| vs llama.cpp %.3g\n", k.name, n, diff);
            CHECK(diff <= TOL, "%s pooling of %d tokens differs from llama.cpp's by %g", k.name, n, diff);
            double norm = 0;
            for (float x : got) norm += (double) x * x;
            CHECK_NEAR(std::sqrt(norm), 1.0, 1e-6);
        }
        rd_embedder_free(e);
    }
    // the default pooling of a model whose GGUF names none is the mean
    rd_embedder * e = open_embedder(m, RD_POOLING_MODEL, 0);
    if (!e) return;
    CHECK_EQ_INT(rd_embedder_pooling(e), RD_POOLING_MEAN);
    CHECK(rd_embedder_n_ctx(e) > 0, "a default context");
    const std::vector<int32_t> t = input_tokens(m, 20, 3);
    const std::vector<float> a = embed(e, t), b = embed(e, t);
    CHECK(!a.empty() && a == b, "the same input embeds to the same bits twice");
    CHECK(max_diff(a, embed(e, input_tokens(m, 20, 4))) > 1e-3, "another input, another embedding");
    rd_embedder_free(e);
}

static void test_errors(rd_model * m) {
    rd_embedder_params p;
    rd_embedder_default_params(&p);
    rd_embedder * e = nullptr;
    p.pooling = 7;
    CHECK_EQ_INT(rd_embedder_init(m, &p, &e), RD_ERR_INVALID_ARG);
    CHECK(e == nullptr, "nothing made");
    p.pooling = RD_POOLING_MODEL;
    p.n_ctx = -1;
    CHECK_EQ_INT(rd_embedder_init(m, &p, &e), RD_ERR_INVALID_ARG);
    CHECK_EQ_INT(rd_embedder_init(nullptr, &p, &e), RD_ERR_INVALID_ARG);

    e = open_embedder(m, RD_POOLING_MEAN, 32);
    if (!e) return;
    const int32_t n_ctx = rd_embedder_n_ctx(e);
    std::vector<float> out((size_t) rd_embedder_n_embd(e));
    std::vector<int32_t> t = input_tokens(m, n_ctx + 1, 1);
    CHECK_EQ_INT(rd_embedder_embed(e, t.data(), n_ctx + 1, out.data()), RD_ERR_CONTEXT_FULL);
    CHECK_EQ_INT(rd_embedder_embed(e, t.data(), 0, out.data()), RD_ERR_INVALID_ARG);
    CHECK_EQ_INT(rd_embedder_embed(e, nullptr, 3, out.data()), RD_ERR_INVALID_ARG);
    t[2] = m->n_vocab;
    CHECK_EQ_INT(rd_embedder_embed(e, t.data(), 3, out.data()), RD_ERR_INVALID_ARG);
    CHECK(strstr(rd_last_error(), "vocabulary") != nullptr, "the message names the bad token: %s", rd_last_error());
    t[2] = -1;
    CHECK_EQ_INT(rd_embedder_embed(e, t.data(), 3, out.data()), RD_ERR_INVALID_ARG);
    // a cancel that landed between calls is cleared by the next one; the embedder still works
    rd_embedder_cancel(e);
    t = input_tokens(m, n_ctx, 2);
    CHECK_OK(rd_embedder_embed(e, t.data(), n_ctx, out.data()));
    rd_embedder_free(e);
}

// tiny-model.gguf with <arch>.pooling_type set: what an embedding GGUF carries
static bool write_with_pooling(const char * src, const char * dst, uint32_t pooling) {
    gguf_init_params ip = {true, nullptr};
    gguf_context * g = gguf_init_from_file(src, ip);
    if (!CHECK(g != nullptr, "read %s", src)) return false;
    const std::string key = std::string(gguf_get_val_str(g, gguf_find_key(g, "general.architecture"))) + ".pooling_type";
    gguf_set_val_u32(g, key.c_str(), pooling);
    bool ok = gguf_write_to_file(g, dst, /*only_meta =*/ true);
    // the tensor data follows the new metadata unchanged (offsets are relative to it)
    FILE * in = fopen(src, "rb"), * out = fopen(dst, "ab");
    ok = ok && in && out && fseek(in, (long) gguf_get_data_offset(g), SEEK_SET) == 0;
    char buf[1 << 16];
    for (size_t k; ok && (k = fread(buf, 1, sizeof buf, in)) > 0;) ok = fwrite(buf, 1, k, out) == k;
    if (in) fclose(in);
    if (out) fclose(out);
    gguf_free(g);
    return CHECK(ok, "write %s", dst);
}

static void test_embedding_gguf(rd_model * plain) {
    const char * src = getenv("RD_TEST_MODEL");
    const struct { uint32_t gguf; int32_t rd; } kinds[] = {{1, RD_POOLING_MEAN}, {3, RD_POOLING_LAST}};
    for (const auto & k : kinds) {
        const std::string dst = "tiny-model-pooling-" + std::to_string(k.gguf) + ".gguf";
        if (!write_with_pooling(src, dst.c_str(), k.gguf)) return;
        rd_model_params mp;
        rd_model_default_params(&mp);
        mp.n_gpu_layers = 0;
        rd_model * m = nullptr;
        if (!CHECK_OK(rd_model_load(dst.c_str(), &mp, &m))) return;
        rd_embedder * e = open_embedder(m, RD_POOLING_MODEL, 256);
        rd_embedder * ours = open_embedder(plain, k.rd, 256);
        if (e && ours) {
            CHECK_EQ_INT(rd_embedder_pooling(e), k.rd);
            const std::vector<int32_t> t = input_tokens(m, 100, 9);
            const double diff = max_diff(embed(e, t), embed(ours, t));
            printf("pooling type %u in the GGUF (llama.cpp pools), 100 tokens: max |diff| vs the library's %.3g\n", k.gguf, diff);
            CHECK(diff <= TOL, "llama.cpp's pooling %u differs from the library's by %g", k.gguf, diff);
        }
        rd_embedder_free(ours);
        rd_embedder_free(e);
        rd_model_free(m);
        remove(dst.c_str());
    }
    // a reranker is not an embedding model
    const char * dst = "tiny-model-pooling-rank.gguf";
    if (!write_with_pooling(src, dst, LLAMA_POOLING_TYPE_RANK)) return;
    rd_model_params mp;
    rd_model_default_params(&mp);
    mp.n_gpu_layers = 0;
    rd_model * m = nullptr;
    if (CHECK_OK(rd_model_load(dst, &mp, &m))) {
        rd_embedder * e = nullptr;
        CHECK_EQ_INT(rd_embedder_init(m, nullptr, &e), RD_ERR_FORMAT);
        rd_model_free(m);
    }
    remove(dst);
}

int main() {
    test_params();
    rd_model * m = rd_test_open_model();
    if (!m) return rd_test_done();
    test_against_llama(m);
    test_errors(m);
    test_embedding_gguf(m);
    rd_model_free(m);
    return rd_test_done();
}
