// embed.cpp - embeddings: one input's last hidden states pooled into one L2-normalised vector,
// in a llama context of the embedder's own (a session's context holds a generation's KV cache).
//
// Two ways, chosen at init:
// - pooled by llama.cpp: when the GGUF names a pooling type (<arch>.pooling_type: an embedding
//   model) or its attention is not causal. llama.cpp's own graph pools (and applies whatever an
//   embedding model adds after pooling, e.g. sentence-transformers' dense layers), so the whole
//   input goes through one ubatch: llama.cpp pools per ubatch, and bidirectional attention
//   must see every token at once.
// - pooled here: a generative model. Its graph ends in the LM head over every token (embedding
//   contexts output all tokens), V x n logits nobody reads, by far the largest part of the work
//   on a large vocabulary. The graph stops at the final norm instead (as the session's head on
//   demand does), and the input goes in chunks of CHUNK tokens (causal attention over the KV
//   cache makes that exact), which also bounds the V x CHUNK logits buffer llama.cpp reserves.
//   Mean, first (CLS) or last token, summed in double.
#include "internal.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

namespace {

constexpr int32_t CHUNK = 64; // tokens per llama_decode when pooling here

// "<arch>.<key>" from the GGUF's metadata, "" when absent
std::string arch_meta(const rd_model * m, const char * key) {
    char arch[64], buf[64];
    if (llama_model_meta_val_str(m->lm, "general.architecture", arch, sizeof arch) < 0) return "";
    std::string k = std::string(arch) + "." + key;
    if (llama_model_meta_val_str(m->lm, k.c_str(), buf, sizeof buf) < 0) return "";
    return buf;
}

bool is_final_norm(const ggml_tensor * t) {
    return strcmp(t->name, "result_norm") == 0 || strcmp(t->name, "result_embd_pooled") == 0;
}

} // namespace

struct rd_embedder {
    rd_model * model = nullptr;
    llama_context * ctx = nullptr;
    llama_batch batch{};
    int32_t n_ctx = 0;
    int32_t n_batch = 0;
    int32_t n_embd = 0;   // length of one embedding
    int32_t pooling = RD_POOLING_MEAN;
    bool by_llama = false; // llama.cpp pools (see the top of the file)
    std::atomic<bool> cancel{false};
    std::vector<double> sum;
    ~rd_embedder() {
        if (batch.token) llama_batch_free(batch);
        if (ctx) llama_free(ctx);
    }
};

static bool embed_abort(void * data) {
    return static_cast<rd_embedder *>(data)->cancel.load(std::memory_order_relaxed);
}

// ask: does the callback want to see t (only the final norm); then, for it: stop the graph there
static bool embed_eval(ggml_tensor * t, bool ask, void *) {
    if (!is_final_norm(t)) return !ask;
    return ask;
}

void rd_embedder_default_params(rd_embedder_params * p) {
    if (!p) return;
    p->n_ctx = 0;
    p->n_threads = 0;
    p->pooling = RD_POOLING_MODEL;
}

rd_status rd_embedder_init(rd_model * m, const rd_embedder_params * p, rd_embedder ** out) try {
    if (!m || !out) return rd_fail(RD_ERR_INVALID_ARG, "rd_embedder_init: model and out are required");
    *out = nullptr;
    rd_embedder_params defaults;
    rd_embedder_default_params(&defaults);
    if (!p) p = &defaults;
    if (p->n_ctx < 0 || p->n_threads < 0) return rd_fail(RD_ERR_INVALID_ARG, "n_ctx and n_threads must be >= 0");
    if (p->pooling != RD_POOLING_MODEL && p->pooling != RD_POOLING_MEAN && p->pooling != RD_POOLING_CLS &&
        p->pooling != RD_POOLING_LAST)
        return rd_fail(RD_ERR_INVALID_ARG, "pooling %d is not an RD_POOLING_* value", p->pooling);

    auto e = std::make_unique<rd_embedder>();
    e->model = m;
    const std::string gguf_pooling = arch_meta(m, "pooling_type");
    const int32_t from_gguf = gguf_pooling.empty() ? LLAMA_POOLING_TYPE_NONE : atoi(gguf_pooling.c_str());
    if (from_gguf == LLAMA_POOLING_TYPE_RANK && p->pooling == RD_POOLING_MODEL)
        return rd_fail(RD_ERR_FORMAT, "'%s' is a reranker (pooling type rank), not an embedding model", m->name.c_str());
    const bool gguf_pools = from_gguf == RD_POOLING_MEAN || from_gguf == RD_POOLING_CLS || from_gguf == RD_POOLING_LAST;
    e->pooling = p->pooling != RD_POOLING_MODEL ? p->pooling : gguf_pools ? from_gguf : RD_POOLING_MEAN;
    e->by_llama = gguf_pools || arch_meta(m, "attention.causal") == "false";

    const int32_t n_train = llama_model_n_ctx_train(m->lm);
    int32_t n_ctx = p->n_ctx > 0 ? p->n_ctx : 4096;
    if (p->n_ctx == 0 && n_train > 0 && n_ctx > n_train) n_ctx = n_train;
    e->n_batch = e->by_llama ? n_ctx : std::min(CHUNK, n_ctx);

    llama_context_params cp = llama_context_default_params();
    cp.n_ctx = (uint32_t) n_ctx;
    cp.n_batch = cp.n_ubatch = (uint32_t) e->n_batch;
    cp.n_seq_max = 1;
    cp.n_threads = cp.n_threads_batch = p->n_threads > 0 ? p->n_threads : rd_default_threads();
    cp.embeddings = true;
    cp.pooling_type = e->by_llama ? (enum llama_pooling_type) e->pooling : LLAMA_POOLING_TYPE_NONE;
    cp.abort_callback = embed_abort;
    cp.abort_callback_data = e.get();
    if (!e->by_llama) cp.cb_eval = embed_eval;
    cp.no_perf = true;
    e->ctx = llama_init_from_model(m->lm, cp);
    if (!e->ctx) return rd_fail(RD_ERR_NO_MEMORY, "llama.cpp could not create an embedding context of %d tokens", n_ctx);
    // llama.cpp may round the context up; one ubatch must hold a whole input it pools
    e->n_ctx = (int32_t) (e->by_llama ? std::min(llama_n_ctx(e->ctx), llama_n_ubatch(e->ctx)) : llama_n_ctx(e->ctx));
    e->n_batch = e->by_llama ? e->n_ctx : (int32_t) std::min<uint32_t>(e->n_batch, llama_n_ubatch(e->ctx));
    e->n_embd = e->by_llama ? llama_model_n_embd_out(m->lm) : m->n_embd;
    e->batch = llama_batch_init(e->n_batch, 0, 1);
    e->sum.resize((size_t) e->n_embd);
    *out = e.release();
    return RD_OK;
} catch (...) { return rd_caught(__func__); }

void rd_embedder_free(rd_embedder * e) { delete e; }

int32_t rd_embedder_n_ctx(const rd_embedder * e) { return e->n_ctx; }
int32_t rd_embedder_n_embd(const rd_embedder * e) { return e->n_embd; }
int32_t rd_embedder_pooling(const rd_embedder * e) { return e->pooling; }
void rd_embedder_cancel(rd_embedder * e) { if (e) e->cancel.store(true); }

// decode tokens[from .. from+k) at their positions, every one an output
static rd_status embed_decode(rd_embedder * e, const int32_t * tokens, int32_t from, int32_t k) {
    llama_batch & b = e->batch;
    b.n_tokens = k;
    for (int32_t i = 0; i < k; i++) {
        b.token[i] = tokens[from + i];
        b.pos[i] = from + i;
        b.n_seq_id[i] = 1;
        b.seq_id[i][0] = 0;
        b.logits[i] = true;
    }
    rd_log_cancel_scope quiet_cancel(&e->cancel);
    const int32_t rc = llama_decode(e->ctx, b);
    if (rc == 0) return RD_OK;
    if (rc == 2 || e->cancel.load()) return rd_fail(RD_ERR_CANCELLED, "cancelled");
    return rd_fail(RD_ERR_DECODE, "llama_decode failed (code %d)", rc);
}

rd_status rd_embedder_embed(rd_embedder * e, const int32_t * tokens, int32_t n, float * out) try {
    if (!e || !tokens || !out) return rd_fail(RD_ERR_INVALID_ARG, "rd_embedder_embed: embedder, tokens and out are required");
    e->cancel.store(false);
    if (n < 1) return rd_fail(RD_ERR_INVALID_ARG, "an input must hold at least one token");
    if (n > e->n_ctx) return rd_fail(RD_ERR_CONTEXT_FULL, "the input is %d tokens, the embedding context %d", n, e->n_ctx);
    for (int32_t i = 0; i < n; i++) {
        if (tokens[i] < 0 || tokens[i] >= e->model->n_vocab)
            return rd_fail(RD_ERR_INVALID_ARG, "token %d at position %d is not in the vocabulary (0..%d)", tokens[i], i,
                           e->model->n_vocab - 1);
    }
    if (llama_memory_t mem = llama_get_memory(e->ctx)) llama_memory_clear(mem, true);

    const int32_t d = e->n_embd;
    std::vector<double> & sum = e->sum;
    std::fill(sum.begin(), sum.end(), 0.0);
    if (e->by_llama) {
        if (rd_status st = embed_decode(e, tokens, 0, n); st != RD_OK) return st;
        const float * v = llama_get_embeddings_seq(e->ctx, 0);
        if (!v) return rd_fail(RD_ERR_DECODE, "llama.cpp returned no pooled embedding");
        for (int32_t j = 0; j < d; j++) sum[j] = v[j];
    } else {
        for (int32_t from = 0; from < n; from += e->n_batch) {
            const int32_t k = std::min(e->n_batch, n - from);
            if (e->pooling == RD_POOLING_CLS && from > 0) break; // only the first token counts
            if (rd_status st = embed_decode(e, tokens, from, k); st != RD_OK) return st;
            for (int32_t i = 0; i < k; i++) {
                const int32_t pos = from + i;
                if (e->pooling == RD_POOLING_CLS ? pos != 0 : e->pooling == RD_POOLING_LAST ? pos != n - 1 : false) continue;
                const float * h = llama_get_embeddings_ith(e->ctx, i);
                if (!h) return rd_fail(RD_ERR_DECODE, "llama.cpp returned no hidden state for position %d", pos);
                for (int32_t j = 0; j < d; j++) sum[j] += h[j];
            }
        }
        if (e->pooling == RD_POOLING_MEAN)
            for (double & x : sum) x /= n;
    }
    // unit length, as OpenAI's embeddings are: cosine similarity is then a dot product
    double norm = 0;
    for (double x : sum) norm += x * x;
    norm = std::sqrt(norm);
    if (!(norm > 0) || !std::isfinite(norm)) return rd_fail(RD_ERR_DECODE, "the pooled hidden state has norm %g", norm);
    for (int32_t j = 0; j < d; j++) out[j] = (float) (sum[j] / norm);
    return RD_OK;
} catch (...) { return rd_caught(__func__); }
