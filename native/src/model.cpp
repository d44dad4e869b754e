// model.cpp - the target model: loading through llama.cpp, metadata, tokenizer, fingerprint.
#include "body_kernel.h"
#include "internal.h"
#include "gguf_matrix.h"
#include "hash.h"
#include "head_kernel.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

rd_model::~rd_model() {
    if (lm) llama_model_free(lm);
}

void rd_model_default_params(rd_model_params * p) {
    if (!p) return;
    p->n_gpu_layers = -1; // all layers where a GPU is found; CPU-only builds are unaffected
    p->device = nullptr;
    p->use_mmap = true;
    p->batch_invariant = true;
}

// llama.cpp only logs why a load failed; check the common cases first so the caller gets a
// status and a message.
static rd_status check_gguf_file(const char * path) {
    FILE * f = fopen(path, "rb");
    if (!f) return rd_fail(RD_ERR_IO, "cannot open model file '%s'", path);
    char magic[4] = {0};
    size_t n = fread(magic, 1, 4, f);
    fclose(f);
    if (n != 4 || memcmp(magic, "GGUF", 4) != 0)
        return rd_fail(RD_ERR_FORMAT, "'%s' is not a GGUF file", path);
    return RD_OK;
}

// The share of the layers' weight bytes ("blk.*") in types the body kernel takes (rd_bk_takes).
static double kernel_share(const gguf_context * g, bool packed, rd_hk_isa isa) {
    size_t of = 0, all = 0;
    for (int64_t i = 0; i < gguf_get_n_tensors(g); i++) {
        if (strncmp(gguf_get_tensor_name(g, i), "blk.", 4) != 0) continue;
        const size_t n = gguf_get_tensor_size(g, i);
        all += n;
        if (rd_bk_takes(gguf_get_tensor_type(g, i), packed, isa)) of += n;
    }
    return all > 0 ? (double) of / (double) all : 0.0;
}

// rd_model_params.batch_invariant holds only if tokens decoded one at a time and the same tokens
// decoded in one batch give bit-identical hidden states and logits: checked at load, in a small
// context with the attention batch-invariant sessions use (session_target.cpp), on this machine's
// kernels (which ones ggml picks depends on the CPU and the weight types: F32 weights, for one,
// go to llamafile's sgemm from 2 tokens). 5 tokens: a repacked weight would take its batched
// kernel from 4. Returns "" or what differs.
static std::string batch_check(const rd_model * m) {
    rd_body_scope body(true, nullptr, m->body_kernel, m->body_packs.get()); // one thread, as the sessions (body_kernel.h)
    llama_context_params cp = llama_context_default_params();
    cp.n_ctx = 16;
    cp.n_batch = cp.n_ubatch = 8;
    cp.n_seq_max = 1;
    cp.n_threads = cp.n_threads_batch = 1;
    cp.embeddings = true; // the hidden state (result_norm) of every output, with the logits
    cp.pooling_type = LLAMA_POOLING_TYPE_NONE;
    cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_ENABLED;
    cp.swa_full = true;
    cp.no_perf = true;
    std::unique_ptr<llama_context, decltype(&llama_free)> ctx(llama_init_from_model(m->lm, cp), llama_free);
    if (!ctx) return "llama.cpp could not create a context to check it";
    const int32_t n = 5, V = m->n_vocab, d = m->n_embd, bos = llama_vocab_bos(m->vocab);
    llama_batch b = llama_batch_init(n, 0, 1);
    struct batch_guard { llama_batch & b; ~batch_guard() { llama_batch_free(b); } } guard{b};
    auto decode = [&](int32_t from, int32_t k) { // tokens from..from+k-1 at their positions
        b.n_tokens = k;
        for (int32_t i = 0; i < k; i++) {
            b.token[i] = i + from == 0 && bos >= 0 ? bos : (int32_t) ((int64_t) V * (i + from) / (n + 1));
            b.pos[i] = i + from; b.n_seq_id[i] = 1; b.seq_id[i][0] = 0; b.logits[i] = true;
        }
        return llama_decode(ctx.get(), b) == 0;
    };
    std::vector<float> h((size_t) n * d), l((size_t) n * V);
    bool ok = decode(0, 1);
    for (int32_t i = 1; i <= n && ok; i++) {
        if (!(ok = decode(i, 1))) break;
        memcpy(&h[(size_t) (i - 1) * d], llama_get_embeddings_ith(ctx.get(), 0), sizeof(float) * d);
        memcpy(&l[(size_t) (i - 1) * V], llama_get_logits_ith(ctx.get(), 0), sizeof(float) * V);
    }
    ok = ok && llama_memory_seq_rm(llama_get_memory(ctx.get()), 0, 1, -1) && decode(1, n);
    if (!ok) return "a decode failed while checking it";
    double dh = 0, dl = 0;
    for (int32_t i = 0; i < n; i++) {
        const float * hb = llama_get_embeddings_ith(ctx.get(), i), * lb = llama_get_logits_ith(ctx.get(), i);
        for (int32_t j = 0; j < d; j++) dh = std::max(dh, (double) std::fabs(hb[j] - h[(size_t) i * d + j]));
        for (int32_t j = 0; j < V; j++) dl = std::max(dl, (double) std::fabs(lb[j] - l[(size_t) i * V + j]));
    }
    if (dh == 0 && dl == 0) return "";
    char buf[200];
    snprintf(buf, sizeof buf, "%d tokens decoded in one batch differ from the same tokens decoded one at a time "
             "(hidden state max |diff| %.3g, logits %.3g)", n, dh, dl);
    return buf;
}

rd_status rd_model_load(const char * path, const rd_model_params * p, rd_model ** out) try {
    if (!path || !out) return rd_fail(RD_ERR_INVALID_ARG, "rd_model_load: path and out are required");
    *out = nullptr;
    rd_model_params defaults;
    rd_model_default_params(&defaults);
    if (!p) p = &defaults;
    if (rd_status st = check_gguf_file(path); st != RD_OK) return st;
    if (rd_status st = rd_model_check_hparams(path); st != RD_OK) return st; // before llama.cpp's asserts

    llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = p->n_gpu_layers;
    mp.load_mode = p->use_mmap ? LLAMA_LOAD_MODE_MMAP : LLAMA_LOAD_MODE_NONE;
    mp.use_extra_bufts = !p->batch_invariant; // the repacked layouts' gemm and gemv round apart
    ggml_backend_dev_t devs[2] = {nullptr, nullptr};
    if (p->device && *p->device) {
        devs[0] = ggml_backend_dev_by_name(p->device);
        if (!devs[0]) return rd_fail(RD_ERR_BACKEND, "no ggml device named '%s'", p->device);
        if (ggml_backend_dev_type(devs[0]) != GGML_BACKEND_DEVICE_TYPE_CPU) mp.devices = devs;
    }

    auto m = std::make_unique<rd_model>();
    m->lm = llama_model_load_from_file(path, mp);
    if (!m->lm) return rd_fail(RD_ERR_FORMAT, "llama.cpp could not load '%s' (unsupported architecture or corrupt file)", path);
    m->path = path;
    m->vocab = llama_model_get_vocab(m->lm);
    m->n_vocab = llama_vocab_n_tokens(m->vocab);
    m->n_embd = llama_model_n_embd(m->lm);

    char name[256];
    if (llama_model_meta_val_str(m->lm, "general.name", name, sizeof name) >= 0) m->name = name;
    else {
        const char * slash = strrchr(path, '/');
        m->name = slash ? slash + 1 : path;
    }

    uint64_t h = RD_FNV_START;
    h = rd_fnv1a(h, &m->n_vocab, sizeof m->n_vocab);
    h = rd_fnv1a(h, &m->n_embd, sizeof m->n_embd);
    for (int32_t t = 0; t < m->n_vocab; t++) {
        const char * text = llama_vocab_get_text(m->vocab, t);
        h = rd_fnv1a(h, text, strlen(text) + 1);
        if (llama_vocab_is_eog(m->vocab, t)) m->eog_tokens.push_back(t);
    }
    m->fingerprint = h;

    // The drafter runs where the target's output layer lives: a GPU when layers are offloaded.
    m->dev = ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU);
    if (p->n_gpu_layers != 0) {
        if (devs[0]) m->dev = devs[0];
        else if (ggml_backend_dev_t g = ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_GPU)) m->dev = g;
    }

    std::string err;
    gguf_ptr meta = gguf_read_meta(m->path); // one parse for both matrices
    if (!meta) return rd_fail(RD_ERR_FORMAT, "cannot read the GGUF metadata of '%s'", path);
    // Sessions of a model whose layers' bytes are mostly in types the body kernel takes on this CPU
    // run ggml on one thread and the products (and the attention) on theirs (body_kernel.h): Q4_1
    // always, Q5_0 / Q4_K / Q6_K on packed copies with AVX-512 VNNI (most of a Q4_K_M file).
    const char * pack_env = getenv("RD_BODY_PACK"); // 0: the kernel reads Q4_1 in place (for comparisons)
    const bool pack = !(pack_env && strcmp(pack_env, "0") == 0);
    m->body_kernel = rd_body_backend_register() && ggml_backend_dev_type(m->dev) == GGML_BACKEND_DEVICE_TYPE_CPU &&
                     kernel_share(meta.get(), pack, rd_hk_best_isa()) > 0.5;
    if (m->body_kernel && pack) m->body_packs = std::make_unique<rd_bk_packs>();
    m->batch_why = p->batch_invariant ? batch_check(m.get()) : "rd_model_params.batch_invariant is off";
    m->batch_invariant = m->batch_why.empty();
    m->embd = gguf_matrix_open(m->path, meta.get(), "token_embd.weight", &err);
    if (!m->embd) return rd_fail(RD_ERR_FORMAT, "cannot read token embeddings of '%s': %s", path, err.c_str());
    // The output layer for the session's own LM head (head.h), only when llama.cpp runs the
    // whole model on the CPU: llama.cpp uses output.weight, or the embeddings when tied.
    if (ggml_backend_dev_type(m->dev) == GGML_BACKEND_DEVICE_TYPE_CPU) {
        if (gguf_find_tensor(meta.get(), "output.weight") >= 0) {
            m->output = gguf_matrix_open(m->path, meta.get(), "output.weight", &err);
            m->head_w = m->output.get();
        } else {
            m->head_w = m->embd.get();
        }
        if (!m->head_w) m->head_why = "output.weight is not readable: " + err;
    } else {
        m->head_why = "the output layer is offloaded";
    }

    *out = m.release();
    return RD_OK;
} catch (...) { return rd_caught(__func__); }

void rd_model_free(rd_model * m) { delete m; }

int32_t rd_model_n_vocab(const rd_model * m) { return m->n_vocab; }
int32_t rd_model_n_embd(const rd_model * m) { return m->n_embd; }
int32_t rd_model_n_ctx_train(const rd_model * m) { return llama_model_n_ctx_train(m->lm); }
int32_t rd_model_token_bos(const rd_model * m) { return llama_vocab_bos(m->vocab); }
int32_t rd_model_token_eos(const rd_model * m) { return llama_vocab_eos(m->vocab); }
bool rd_model_token_is_eog(const rd_model * m, int32_t t) {
    return t >= 0 && t < m->n_vocab && llama_vocab_is_eog(m->vocab, t);
}
bool rd_model_add_bos(const rd_model * m) { return llama_vocab_get_add_bos(m->vocab); }
int32_t rd_model_token_fim_pre(const rd_model * m) { return llama_vocab_fim_pre(m->vocab); }
int32_t rd_model_token_fim_suf(const rd_model * m) { return llama_vocab_fim_suf(m->vocab); }
int32_t rd_model_token_fim_mid(const rd_model * m) { return llama_vocab_fim_mid(m->vocab); }
uint64_t rd_model_fingerprint(const rd_model * m) { return m->fingerprint; }
const char * rd_model_batch_invariance(const rd_model * m) { return m->batch_why.c_str(); }

int32_t rd_model_meta(const rd_model * m, const char * key, char * buf, int32_t cap) try {
    if (!key) return -1;
    // llama_model_meta_val_str truncates into buf and returns the full length
    char dummy[1];
    if (!buf || cap <= 0) { buf = dummy; cap = 1; }
    return llama_model_meta_val_str(m->lm, key, buf, (size_t) cap);
} catch (...) { rd_caught(__func__); return -1; }

int32_t rd_model_tokenize(const rd_model * m, const char * text, int32_t len, bool add_special,
                          bool parse_special, int32_t * out, int32_t cap) try {
    if (!text || len < 0) return 0;
    if (!out) cap = 0;
    return llama_tokenize(m->vocab, text, len, out, cap, add_special, parse_special);
} catch (...) { rd_caught(__func__); return INT32_MIN; }

int32_t rd_model_token_to_piece(const rd_model * m, int32_t token, bool special, char * buf, int32_t cap) try {
    if (token < 0 || token >= m->n_vocab) return -INT32_MAX;
    char dummy[1];
    if (!buf || cap <= 0) { buf = dummy; cap = 0; }
    return llama_token_to_piece(m->vocab, token, buf, cap, 0, special);
} catch (...) { rd_caught(__func__); return INT32_MIN; }
