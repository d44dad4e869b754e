/* batch_invariance.cpp - does a token's hidden state depend on how many tokens share its
 * llama_decode? For a target GGUF and a list of CPU configurations (weight repacking, flash
 * attention, KV cache types, threads, context length, tokens per batch) it decodes a context,
 * then n more tokens one at a time and the same n tokens in one batch, and compares the final
 * hidden state (llama.cpp's result_norm) and the logits bit for bit. For a configuration that
 * differs it names the first graph node that differs for the batch's last token, with its op
 * and operand types. The evidence behind rd_model_params.batch_invariant (README, "Exactness").
 *
 *   batch-invariance --model M.gguf [--lib-dir DIR] [--only K]
 */
#include "redrafter.h"
#include "llama.h"
#include "ggml-backend.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

struct config {
    const char * what;
    bool repack;               // llama_model_params.use_extra_bufts
    int  flash;                // llama_context_params.flash_attn_type (0 off, 1 on)
    ggml_type k, v;            // KV cache types
    int  threads, n_ctx_tokens, n;
};

// Each graph node the callback sees, keyed "name#occurrence" (names repeat within a graph).
struct node_copy {
    std::string op;
    int64_t ne[4];
    size_t nb[4];
    std::vector<char> data;
};
struct recorder {
    bool on = false;
    std::vector<std::string> order;
    std::map<std::string, node_copy> nodes;
    std::map<std::string, int> seen;
};

static bool record(ggml_tensor * t, bool ask, void * data) {
    auto * r = static_cast<recorder *>(data);
    if (!r->on) return false;
    if (ask) return true; // every node, so each one's result can be read before it is reused
    if (t->type != GGML_TYPE_F32) return true;
    std::string key = std::string(t->name) + "#" + std::to_string(r->seen[t->name]++);
    node_copy & c = r->nodes[key];
    c.op = ggml_op_desc(t);
    for (int s = 0; s < 3 && t->src[s]; s++) c.op += std::string(s ? "," : "(") + ggml_type_name(t->src[s]->type);
    if (t->src[0]) c.op += ")";
    for (int i = 0; i < 4; i++) { c.ne[i] = t->ne[i]; c.nb[i] = t->nb[i]; }
    c.data.resize(ggml_nbytes(t));
    ggml_backend_tensor_get(t, c.data.data(), 0, c.data.size());
    r->order.push_back(key);
    return true;
}

static float at(const node_copy & c, const int64_t * i) {
    float v;
    memcpy(&v, c.data.data() + i[0] * c.nb[0] + i[1] * c.nb[1] + i[2] * c.nb[2] + i[3] * c.nb[3], sizeof v);
    return v;
}

// The first node in batch order whose slice for the last token differs from the same node of
// the one-token decode: the batch dimension is the one that is n there and 1 alone. (n is a
// multiple of 4 below: a repacked weight's batched kernel takes rows 4 at a time and leaves the
// rest to its one-token kernel, so the last of 9 tokens would not show it.)
static std::string first_difference(const recorder & alone, const recorder & batch, int n) {
    for (const std::string & key : batch.order) {
        auto it = alone.nodes.find(key);
        if (it == alone.nodes.end()) continue;
        const node_copy & a = it->second, & b = batch.nodes.at(key);
        int dim = -1;
        bool same_shape = true;
        for (int k = 0; k < 4; k++) {
            if (dim < 0 && b.ne[k] == n && a.ne[k] == 1) dim = k;
            else if (b.ne[k] != a.ne[k]) same_shape = false;
        }
        if (dim < 0 || !same_shape) continue; // not laid out per token (e.g. the KV views)
        double worst = 0;
        int64_t i[4], j[4];
        for (i[3] = 0; i[3] < a.ne[3]; i[3]++)
            for (i[2] = 0; i[2] < a.ne[2]; i[2]++)
                for (i[1] = 0; i[1] < a.ne[1]; i[1]++)
                    for (i[0] = 0; i[0] < a.ne[0]; i[0]++) {
                        memcpy(j, i, sizeof j);
                        j[dim] = n - 1;
                        worst = std::max(worst, (double) std::fabs(at(a, i) - at(b, j)));
                    }
        if (worst > 0) {
            char buf[256];
            snprintf(buf, sizeof buf, "%s %s (max |diff| %.3g)", key.substr(0, key.find('#')).c_str(), b.op.c_str(), worst);
            return buf;
        }
    }
    return "no per-token node differs";
}

static bool decode(llama_context * ctx, const std::vector<llama_token> & toks, int from, int n, bool outputs) {
    llama_batch b = llama_batch_init(n, 0, 1);
    for (int i = 0; i < n; i++) {
        b.token[i] = toks[from + i]; b.pos[i] = from + i;
        b.n_seq_id[i] = 1; b.seq_id[i][0] = 0; b.logits[i] = outputs;
    }
    b.n_tokens = n;
    const bool ok = llama_decode(ctx, b) == 0;
    llama_batch_free(b);
    return ok;
}

static void run(const char * path, const config & c, const std::vector<std::string> & text_ids) {
    llama_model_params mp = llama_model_default_params();
    mp.use_extra_bufts = c.repack;
    llama_model * m = llama_model_load_from_file(path, mp);
    if (!m) { fprintf(stderr, "error: cannot load %s\n", path); exit(1); }
    const llama_vocab * vocab = llama_model_get_vocab(m);
    std::string text;
    for (const std::string & s : text_ids) text += s;
    std::vector<llama_token> toks(text.size() + 2);
    toks.resize((size_t) llama_tokenize(vocab, text.c_str(), (int32_t) text.size(), toks.data(), (int32_t) toks.size(), true, false));
    const int P = c.n_ctx_tokens, n = c.n;
    if ((int) toks.size() < P + n) { fprintf(stderr, "error: the text has only %zu tokens\n", toks.size()); exit(1); }

    recorder rec;
    llama_context_params cp = llama_context_default_params();
    cp.n_ctx = (uint32_t) (P + n + 256);
    cp.n_batch = cp.n_ubatch = (uint32_t) std::max(P, n);
    cp.n_threads = cp.n_threads_batch = c.threads;
    cp.embeddings = true; // result_norm of every output
    cp.pooling_type = LLAMA_POOLING_TYPE_NONE;
    cp.flash_attn_type = c.flash ? LLAMA_FLASH_ATTN_TYPE_ENABLED : LLAMA_FLASH_ATTN_TYPE_DISABLED;
    cp.type_k = c.k;
    cp.type_v = c.v;
    cp.swa_full = true;
    cp.cb_eval = record;
    cp.cb_eval_user_data = &rec;
    llama_context * ctx = llama_init_from_model(m, cp);
    if (!ctx) { fprintf(stderr, "error: cannot create a context for '%s'\n", c.what); exit(1); }
    const int d = llama_model_n_embd(m), V = llama_vocab_n_tokens(vocab);

    // the same context both ways, then the n tokens alone (recording the last) and together
    std::vector<float> h1((size_t) n * d), l1((size_t) n * V), hb((size_t) n * d), lb((size_t) n * V);
    recorder alone;
    for (int way = 0; way < 2; way++) {
        rec = recorder();
        llama_memory_clear(llama_get_memory(ctx), true);
        if (!decode(ctx, toks, 0, P, false)) { fprintf(stderr, "error: decode failed\n"); exit(1); }
        std::vector<float> & h = way ? hb : h1, & l = way ? lb : l1;
        for (int i = 0; i < (way ? 1 : n); i++) {
            rec = recorder();
            rec.on = way == 1 || i == n - 1;
            const int k = way ? n : 1;
            if (!decode(ctx, toks, P + i, k, true)) { fprintf(stderr, "error: decode failed\n"); exit(1); }
            for (int j = 0; j < k; j++) {
                memcpy(&h[(size_t) (i + j) * d], llama_get_embeddings_ith(ctx, j), sizeof(float) * d);
                memcpy(&l[(size_t) (i + j) * V], llama_get_logits_ith(ctx, j), sizeof(float) * V);
            }
        }
        if (!way) alone = rec;
    }
    int same_h = 0, same_l = 0;
    double dh = 0, dl = 0;
    for (int i = 0; i < n; i++) {
        same_h += memcmp(&h1[(size_t) i * d], &hb[(size_t) i * d], sizeof(float) * d) == 0;
        same_l += memcmp(&l1[(size_t) i * V], &lb[(size_t) i * V], sizeof(float) * V) == 0;
        for (int j = 0; j < d; j++) dh = std::max(dh, (double) std::fabs(h1[(size_t) i * d + j] - hb[(size_t) i * d + j]));
        for (int j = 0; j < V; j++) dl = std::max(dl, (double) std::fabs(l1[(size_t) i * V + j] - lb[(size_t) i * V + j]));
    }
    printf("%-44s threads %d, %4d cells, %2d tokens: hidden %2d/%d identical (max |diff| %.3g), logits %2d/%d (%.3g)\n",
           c.what, c.threads, P, n, same_h, n, dh, same_l, n, dl);
    if (same_h < n || same_l < n) printf("    first difference: %s\n", first_difference(alone, rec, n).c_str());
    fflush(stdout);
    llama_free(ctx);
    llama_model_free(m);
}

int main(int argc, char ** argv) {
    const char * model = nullptr, * lib_dir = nullptr;
    int only = -1;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--model")) model = argv[i + 1];
        else if (!strcmp(argv[i], "--lib-dir")) lib_dir = argv[i + 1];
        else if (!strcmp(argv[i], "--only")) only = atoi(argv[i + 1]);
    }
    if (!model) {
        fprintf(stderr, "usage: batch-invariance --model M.gguf [--lib-dir DIR] [--only K]\n");
        return 2;
    }
    if (rd_backend_init(lib_dir) != RD_OK) { fprintf(stderr, "error: %s\n", rd_last_error()); return 1; }
    rd_log_set_quiet(true);
    // plain prose, code and numbers, repeated with a counter: enough tokens for 700 cells + 64
    std::vector<std::string> text;
    for (int r = 0; r < 14; r++)
        text.push_back("The quick brown fox jumps over the lazy dog. In 1905 Albert Einstein published four papers: "
                       "the photoelectric effect, Brownian motion, special relativity and mass-energy equivalence. "
                       "def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n"
                       "Rivers of Europe include the Danube, the Rhine and the Loire; each one flows " + std::to_string(r * 7919) + ". ");
    const ggml_type F16 = GGML_TYPE_F16, F32 = GGML_TYPE_F32, BF16 = GGML_TYPE_BF16;
    const config configs[] = {
        {"repacked weights, flash attention f16/f16",  true,  1, F16, F16,  1,  24,  8},
        {"plain weights, no flash attention, f16 KV",  false, 0, F16, F16,  1,  24,  8},
        {"plain weights, no flash attention, f32 KV",  false, 0, F32, F32,  1,  24,  8},
        {"plain weights, flash attention f16/f16",     false, 1, F16, F16,  1,  24,  8},
        {"plain weights, flash attention f16/f16",     false, 1, F16, F16,  1,  24, 64},
        {"plain weights, flash attention f16/f16",     false, 1, F16, F16,  2, 700,  8},
        {"plain weights, flash attention f16/bf16",    false, 1, F16, BF16, 1,  24,  8},
        {"plain weights, flash attention f16/bf16",    false, 1, F16, BF16, 2, 700, 64},
    };
    printf("%s: tokens decoded one at a time vs in one batch, after the same context\n", model);
    for (int i = 0; i < (int) (sizeof configs / sizeof configs[0]); i++)
        if (only < 0 || only == i) run(model, configs[i], text);
    return 0;
}
