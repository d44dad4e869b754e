// session.cpp - session lifecycle, prompt prefill and the decoding step:
// draft (drafter.h) -> tree (tree.h) -> ONE llama_decode -> accept (accept.cpp, with the LM head
// on demand, head.h) -> KV (kv.cpp).
#include "session.h"
#include "drafter.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <thread>

void rd_session_default_params(rd_session_params * p) {
    if (!p) return;
    p->n_ctx = 0;
    p->n_batch = 512;
    p->n_threads = 0;
    p->beam_width = 4;
    p->beam_length = 4;
    p->flash_attn = -1;
    p->kv_f32 = false;
    p->adaptive = true;
    p->lazy_head = true;
    p->lookup = 16;
}

// The catch of the entry points that advance a session: an exception may have left its cache
// and sampler half-updated, so it must be prefilled again.
static rd_status session_caught(rd_session * s, const char * fn) noexcept {
    if (s) s->state = rd_state::empty;
    return rd_caught(fn);
}

rd_session::~rd_session() {
    if (batch.token) llama_batch_free(batch);
    if (ctx) llama_free(ctx);
}

static bool abort_cb(void * data) {
    return static_cast<rd_session *>(data)->cancel.load(std::memory_order_relaxed);
}

// ggml's scheduler asks this callback about every graph node (ask = true: "do you want to see
// it?") and, for a node it wanted, calls again once computed; returning false then ends the
// graph. A tree decode with the head on demand stops right after the final norm: the KV writes
// and every hidden state are done, the output layer is skipped. Other decodes run whole.
// llama.cpp names the norm "result_norm", renamed "result_embd_pooled" when embeddings are on.
static bool is_final_norm(const ggml_tensor * t) {
    return strcmp(t->name, "result_norm") == 0 || strcmp(t->name, "result_embd_pooled") == 0;
}

static bool eval_cb(ggml_tensor * t, bool ask, void * data) {
    auto * s = static_cast<rd_session *>(data);
    if (!s->stop_at_norm) return false;
    if (!is_final_norm(t)) return ask ? false : true;
    if (ask) return true;
    s->norm_seen = true;
    return false;
}

static std::string head_check(rd_session * s);

rd_status rd_session_init(rd_model * m, rd_drafter * d, const rd_session_params * p, rd_session ** out) try {
    if (!m || !out) return rd_fail(RD_ERR_INVALID_ARG, "rd_session_init: model and out are required");
    *out = nullptr;
    rd_session_params defaults;
    rd_session_default_params(&defaults);
    if (!p) p = &defaults;

    const int32_t n_train = llama_model_n_ctx_train(m->lm);
    int32_t n_ctx = p->n_ctx > 0 ? p->n_ctx : std::min<int32_t>(4096, n_train > 0 ? n_train : 4096);
    if (p->n_ctx < 0 || n_ctx < 8) return rd_fail(RD_ERR_INVALID_ARG, "n_ctx must be >= 8 (got %d)", p->n_ctx);
    if (p->n_batch < 1) return rd_fail(RD_ERR_INVALID_ARG, "n_batch must be >= 1 (got %d)", p->n_batch);
    if (p->n_threads < 0) return rd_fail(RD_ERR_INVALID_ARG, "n_threads must be >= 0 (got %d)", p->n_threads);
    if (p->flash_attn < -1 || p->flash_attn > 1) return rd_fail(RD_ERR_INVALID_ARG, "flash_attn must be -1, 0 or 1");
    {
        if (p->beam_width < 1 || p->beam_width > RD_MAX_BEAMS)
            return rd_fail(RD_ERR_INVALID_ARG, "beam width must be in 1..%d (got %d)", RD_MAX_BEAMS, p->beam_width);
        if (p->beam_length < 1 || p->beam_length > RD_MAX_BEAM_LENGTH)
            return rd_fail(RD_ERR_INVALID_ARG, "beam length must be in 1..%d (got %d)", RD_MAX_BEAM_LENGTH, p->beam_length);
        if (p->lookup < 0 || p->lookup > RD_MAX_BEAM_LENGTH)
            return rd_fail(RD_ERR_INVALID_ARG, "lookup must be in 0..%d (got %d)", RD_MAX_BEAM_LENGTH, p->lookup);
        if (1 + p->beam_width * p->beam_length >= n_ctx)
            return rd_fail(RD_ERR_INVALID_ARG, "a tree of 1 + %d x %d nodes does not fit a context of %d tokens",
                           p->beam_width, p->beam_length, n_ctx);
    }

    auto s = std::make_unique<rd_session>();
    s->m = m;
    s->d = d;
    // beams are allocated even without a drafter: rd_session_step_beams can inject them
    s->B = p->beam_width;
    s->L = p->beam_length;
    s->lookup = p->lookup;
    s->n_seq = std::max(1, s->B) + (s->lookup > 0); // the copy beam's sequence comes last
    s->n_ctx = n_ctx;
    s->n_batch = std::max(p->n_batch, 1 + s->B * s->L + s->lookup);
    s->invariant = m->batch_invariant;
    s->flash = s->invariant || p->flash_attn != 0;
    s->adaptive = p->adaptive;
    rd_policy_init(s->policy);
    rd_lookup_policy_init(s->look_pol);

    const int32_t threads = p->n_threads > 0 ? p->n_threads : rd_default_threads();
    llama_context_params cp = llama_context_default_params();
    cp.n_ctx = (uint32_t) n_ctx;
    cp.n_batch = cp.n_ubatch = (uint32_t) s->n_batch;
    cp.n_seq_max = (uint32_t) s->n_seq;
    cp.n_threads = cp.n_threads_batch = threads;
    cp.embeddings = true;                  // hidden states of every output, with the logits
    cp.pooling_type = LLAMA_POOLING_TYPE_NONE;
    cp.kv_unified = true;                  // one cache shared by the beams: tree attention
    cp.swa_full = true;                    // sliding-window caches must be able to roll back
    cp.flash_attn_type = s->invariant ? LLAMA_FLASH_ATTN_TYPE_ENABLED : (llama_flash_attn_type) p->flash_attn;
    cp.type_k = cp.type_v = p->kv_f32 ? GGML_TYPE_F32 : GGML_TYPE_F16;
    // Batch invariance: ggml's CPU flash attention runs each query over the cells in order, one
    // query at a time, except with K and V of one type, where 64+ queries take a tiled kernel and
    // a lone query's cells are split across the threads once there are 512: both round apart.
    // One chain per step keeps trees under 64 nodes, and one thread splits nothing, so f16/f16
    // serves one thread; more threads need a V type of its own: bf16 (measured 1-4% slower per
    // tree decode, for its conversion). Without flash attention, batched KQ and KQV go to
    // llamafile's sgemm, which rounds apart from the one-token dot products.
    if (s->invariant) {
        cp.type_k = GGML_TYPE_F16;
        cp.type_v = threads == 1 ? GGML_TYPE_F16 : GGML_TYPE_BF16;
    }
    cp.abort_callback = abort_cb;
    cp.abort_callback_data = s.get();
    cp.cb_eval = eval_cb;
    cp.cb_eval_user_data = s.get();
    cp.no_perf = true;
    s->ctx = llama_init_from_model(m->lm, cp);
    if (!s->ctx) return rd_fail(RD_ERR_NO_MEMORY, "llama.cpp could not create a context of %d tokens", n_ctx);
    // llama.cpp may round the context up but never the batch: read both back
    s->n_ctx = (int32_t) llama_n_ctx(s->ctx);
    s->n_batch = (int32_t) llama_n_batch(s->ctx);
    if (s->n_batch < 1 + s->B * s->L + s->lookup)
        return rd_fail(RD_ERR_INVALID_ARG, "a tree of 1 + %d x %d + %d nodes exceeds the batch of %d tokens", s->B, s->L,
                       s->lookup, s->n_batch);
    s->batch = llama_batch_init(s->n_batch, 0, s->n_seq);
    s->h.assign((size_t) m->n_embd, 0.0f);
    s->beams.resize((size_t) std::max(1, s->B * s->L));
    s->beam_logp.resize((size_t) std::max(1, s->B));
    s->step_logp.resize(s->beams.size());
    s->hist.reserve((size_t) s->n_ctx);
    if (d) rd_drafter_set_threads(d, threads);
    if (p->lazy_head && m->head_w && rd_head_init(s->head, m, threads) == RD_OK) {
        std::call_once(m->head_once, [&] {
            m->head_why = head_check(s.get());
            m->head_ok = m->head_why.empty();
        });
        s->lazy_head = m->head_ok;
        if (s->lazy_head) s->wave_x.resize((size_t) m->n_embd * RD_HEAD_MAX_COLS);
        else rd_head_release(s->head);
    }
    *out = s.release();
    return RD_OK;
} catch (...) { return rd_caught(__func__); }

void rd_session_free(rd_session * s) { delete s; }

int32_t rd_session_n_ctx(const rd_session * s) { return s->n_ctx; }
int32_t rd_session_n_past(const rd_session * s) { return s->n_past; }
bool rd_session_flash_attn(const rd_session * s) { return s->flash; }
void rd_session_cancel(rd_session * s) { if (s) s->cancel.store(true); }
const float * rd_session_hidden(const rd_session * s) { return s->state == rd_state::empty ? nullptr : s->h.data(); }

rd_status rd_session_head_logits(rd_session * s, const float * x, int32_t k, float * logits) try {
    if (!s || !x || !logits || k < 1 || k > RD_HEAD_MAX_COLS)
        return rd_fail(RD_ERR_INVALID_ARG, "rd_session_head_logits: session, x, logits and k in 1..%d are required", RD_HEAD_MAX_COLS);
    if (!s->lazy_head) return rd_fail(RD_ERR_STATE, "this session runs llama.cpp's LM head (lazy_head off, or no head of its own for this model)");
    const float * y = rd_head_run(s->head, x, k);
    if (!y) return rd_fail(RD_ERR_BACKEND, "the LM head's ggml graph failed");
    memcpy(logits, y, (size_t) k * (size_t) s->m->n_vocab * sizeof(float));
    return RD_OK;
} catch (...) { return rd_caught(__func__); }

// Cells tagged with sequence q: llama.cpp has no counter, but its sequence state is
// (magic u32, seq id i32, n_stream u32, cell_count u32, ...) where the count is that of the
// first (full-attention) cache. Test hook only: it serialises the cache.
static int32_t seq_cells(llama_context * ctx, llama_seq_id q) {
    const size_t size = llama_state_seq_get_size(ctx, q);
    if (size < 16) return -1;
    std::vector<uint8_t> buf(size);
    if (llama_state_seq_get_data(ctx, buf.data(), size, q) < 16) return -1;
    uint32_t n_stream = 0, cells = 0;
    memcpy(&n_stream, buf.data() + 8, 4);
    memcpy(&cells, buf.data() + 12, 4);
    return n_stream == 1 ? (int32_t) cells : -1;
}

int32_t rd_session_kv_cells(const rd_session * s) try {
    // every occupied cell carries some beam's seq id and, after compaction, every beam holds
    // the same cells: any disagreement means a stale branch survived
    const int32_t n0 = seq_cells(s->ctx, 0);
    for (int32_t q = 1; q < s->n_seq; q++)
        if (seq_cells(s->ctx, q) != n0) return -1;
    return n0;
} catch (...) { rd_caught(__func__); return -1; }

static void batch_add(llama_batch & b, int32_t tok, int32_t pos, uint32_t seqs, bool logits) {
    const int32_t i = b.n_tokens++;
    b.token[i] = tok;
    b.pos[i] = pos;
    int32_t n = 0;
    for (uint32_t m = seqs; m; m &= m - 1) b.seq_id[i][n++] = __builtin_ctz(m); // ascending: the
    b.n_seq_id[i] = n;  // first seq id decides the token's attention mask, any beam through it works
    b.logits[i] = logits;
}

static rd_status decode(rd_session * s) {
    rd_log_cancel_scope quiet_cancel(&s->cancel);
    const int32_t rc = llama_decode(s->ctx, s->batch);
    if (rc == 0) return RD_OK;
    s->state = rd_state::empty;
    if (rc == 2 || s->cancel.load()) return rd_fail(RD_ERR_CANCELLED, "cancelled");
    return rd_fail(RD_ERR_DECODE, "llama_decode failed (code %d)", rc);
}

static uint32_t all_seqs(const rd_session * s) { return s->n_seq >= 32 ? 0xFFFFFFFFu : (1u << s->n_seq) - 1u; }

// Decode tok at pos (sequence 0) and copy its logits and hidden state; stop = at the norm.
static bool check_decode(rd_session * s, int32_t tok, int32_t pos, bool stop, std::vector<float> & logits,
                         std::vector<float> & hidden) {
    s->batch.n_tokens = 0;
    batch_add(s->batch, tok, pos, 1u, true);
    s->stop_at_norm = stop;
    s->norm_seen = false;
    const bool ok = decode(s) == RD_OK;
    s->stop_at_norm = false;
    if (!ok) return false;
    const size_t V = (size_t) s->m->n_vocab, d = (size_t) s->m->n_embd;
    logits.assign(llama_get_logits_ith(s->ctx, 0), llama_get_logits_ith(s->ctx, 0) + V);
    hidden.assign(llama_get_embeddings_ith(s->ctx, 0), llama_get_embeddings_ith(s->ctx, 0) + d);
    return true;
}

// Once per model, before any session uses its own head: (1) a decode stopped at result_norm
// leaves the hidden state a whole decode makes; (2) the head's logits of two hidden states are
// llama.cpp's: bit for bit from ggml's op; from the Q8_0 kernel within 1e-3 of the largest logit
// (it quantizes the activations as ggml's x86 code does and only its sums run in another order:
// Gemma 3 differs by 3e-7 of it; ggml's ARM code rounds a quant now and then the other way;
// a wrong kernel misses by the whole scale); (3) sets
// m->head_cols to the most columns per call (<= RD_HEAD_MAX_COLS) that give the bits of one
// column per call: the kernel must keep them at every width (head_kernel.h), ggml's CPU matmul
// takes other kernels for some types and widths (F32: 2+ columns differ); (4) sets m->head_cost
// from timed calls. Returns "" or what failed.
static std::string head_check(rd_session * s) {
    static_assert(sizeof(rd_model::head_cost) / sizeof(double) == RD_HEAD_MAX_COLS + 1, "head_cost holds 0..RD_HEAD_MAX_COLS");
    rd_model * m = s->m;
    const size_t V = (size_t) m->n_vocab, d = (size_t) m->n_embd;
    const int32_t bos = llama_vocab_bos(m->vocab);
    const int32_t t0 = bos >= 0 ? bos : 0, t1 = (int32_t) (V / 2);
    std::vector<float> l0, h0, l1, h1, l1s, h1s;
    std::string why;
    llama_memory_t mem = llama_get_memory(s->ctx);
    llama_memory_clear(mem, true);
    if (!check_decode(s, t0, 0, false, l0, h0)) why = "decode failed";
    else if (!check_decode(s, t1, 1, true, l1s, h1s)) why = "decode failed";
    else if (!s->norm_seen) why = "the model's graph has no final-norm tensor";
    else if (!llama_memory_seq_rm(mem, 0, 1, -1) || !check_decode(s, t1, 1, false, l1, h1)) why = "decode failed";
    else if (memcmp(h1.data(), h1s.data(), d * sizeof(float)) != 0) why = "a decode stopped at the norm changed the hidden state";
    llama_memory_clear(mem, true);
    if (!why.empty()) return why;

    const int32_t C = RD_HEAD_MAX_COLS;
    const bool kernel = s->head.q8 != nullptr;
    std::vector<float> x(d * C), one(V * C);
    for (size_t i = 0; i < d; i++) {
        x[i] = h0[i];
        x[d + i] = h1[i];
        for (int32_t k = 2; k < C; k++) x[k * d + i] = (k % 2 ? h1[i] : h0[i]) * (float) (k - 4);
    }
    double best[RD_HEAD_MAX_COLS + 1];
    std::fill(best, best + C + 1, 1e30);
    auto timed = [&](const float * in, int32_t k) { // best of the timed calls of each width
        const double t = rd_now_ms();
        const float * y = rd_head_run(s->head, in, k);
        best[k] = std::min(best[k], rd_now_ms() - t);
        return y;
    };
    for (int32_t k = 0; k < C; k++) {
        const float * y = timed(&x[k * d], 1);
        if (!y) return "the head failed";
        memcpy(&one[k * V], y, V * sizeof(float));
    }
    if (kernel) {
        double diff = 0, scale = 1;
        for (size_t i = 0; i < V; i++) {
            diff = std::max({diff, (double) std::fabs(one[i] - l0[i]), (double) std::fabs(one[V + i] - l1[i])});
            scale = std::max({scale, (double) std::fabs(l0[i]), (double) std::fabs(l1[i])});
        }
        if (!(diff <= 1e-3 * scale))
            return "the Q8_0 kernel's logits differ from llama.cpp's by " + std::to_string(diff) + " (largest logit " +
                   std::to_string(scale) + ")";
    } else if (memcmp(&one[0], l0.data(), V * sizeof(float)) != 0 || memcmp(&one[V], l1.data(), V * sizeof(float)) != 0) {
        return "its logits differ from llama.cpp's (the graph does more than output x norm)";
    }
    // widths examined: every one for ggml's op (up to the first that changes a bit); for the
    // kernel, whose cost grows smoothly, a few
    std::vector<int32_t> widths;
    for (int32_t k = 2; k <= C; k++)
        if (!kernel || k <= 4 || k == 6 || k == 8 || k == 12 || k == C) widths.push_back(k);
    m->head_cols = 1;
    for (int32_t k : widths) {
        const float * y = timed(x.data(), k);
        if (!y || memcmp(y, one.data(), (size_t) k * V * sizeof(float)) != 0) {
            if (kernel) return "the Q8_0 kernel's logits change with the column count (" + std::to_string(k) + ")";
            break;
        }
        m->head_cols = k;
    }
    if (m->head_cols == 1) return ""; // one column per call: no width to choose
    // a second timing round (the machine may be busy), then cost[k] against one column
    timed(x.data(), 1);
    for (int32_t k : widths)
        if (k <= m->head_cols) timed(x.data(), k);
    if (kernel) { // its cost grows by about as much per column: a least-squares line through the
                  // timed widths steadies single timings on a busy machine (sessions then measure
                  // their own: policy.h, rd_policy_head_cost)
        double n = 0, sk = 0, st = 0, skk = 0, skt = 0;
        for (int32_t k = 1; k <= C; k++)
            if (best[k] < 1e30) n++, sk += k, st += best[k], skk += (double) k * k, skt += k * best[k];
        const double slope = std::max(0.0, (n * skt - sk * st) / (n * skk - sk * sk));
        const double one = std::max(1e-6, (st - slope * sk) / n + slope);
        for (int32_t k = 1; k <= C; k++) best[k] = one + slope * (k - 1);
    }
    for (int32_t k = 2; k <= m->head_cols; k++) m->head_cost[k] = best[1] > 0 ? best[k] / best[1] : (double) k;
    return "";
}

rd_status rd_session_prefill(rd_session * s, const int32_t * tokens, int32_t n, const rd_sampler_params * sp) try {
    if (!s || !tokens || !sp) return rd_fail(RD_ERR_INVALID_ARG, "rd_session_prefill: session, tokens and sampler are required");
    s->cancel.store(false);
    s->state = rd_state::empty;
    s->finish = RD_FINISH_NONE;
    s->n_past = 0;
    llama_memory_clear(llama_get_memory(s->ctx), true);
    if (n < 1) return rd_fail(RD_ERR_INVALID_ARG, "the prompt is empty");
    if (n >= s->n_ctx)
        return rd_fail(RD_ERR_CONTEXT_FULL, "the prompt has %d tokens but the context holds %d (and needs room to generate)", n, s->n_ctx);
    for (int32_t i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= s->m->n_vocab)
            return rd_fail(RD_ERR_INVALID_ARG, "prompt token %d at index %d is outside the vocabulary", tokens[i], i);
    if (rd_status st = rd_sampler_build(s->smp, s->m, *sp); st != RD_OK) return st;
    s->ignore_eos = sp->ignore_eos;

    // With embeddings on, llama.cpp makes every token of a batch an output, i.e. runs the LM
    // head on it (for Gemma 3: 262144 x 640 per token). Only the last prompt token's logits and
    // hidden state are needed, so the rest of the prompt is decoded with embeddings off.
    llama_set_embeddings(s->ctx, false);
    for (int32_t i = 0; i < n - 1; i += s->n_batch) {
        const int32_t k = std::min(s->n_batch, n - 1 - i);
        s->batch.n_tokens = 0;
        for (int32_t j = 0; j < k; j++) batch_add(s->batch, tokens[i + j], i + j, 1u, false);
        if (rd_status st = decode(s); st != RD_OK) { llama_set_embeddings(s->ctx, true); return st; }
    }
    llama_set_embeddings(s->ctx, true);
    s->batch.n_tokens = 0;
    batch_add(s->batch, tokens[n - 1], n - 1, 1u, true);
    if (rd_status st = decode(s); st != RD_OK) return st;
    llama_memory_t mem = llama_get_memory(s->ctx);
    for (int32_t q = 1; q < s->n_seq; q++) llama_memory_seq_cp(mem, 0, q, -1, -1);
    memcpy(s->h.data(), llama_get_embeddings_ith(s->ctx, -1), s->h.size() * sizeof(float));
    s->n_past = n;
    s->hist.assign(tokens, tokens + n);
    s->state = rd_state::prefilled;
    return RD_OK;
} catch (...) { return session_caught(s, __func__); }

// The tree-node bit of this step's copy beam (its sequence, the last); 0 without one.
static uint32_t copy_bit(const rd_session * s) { return s->n_copy > 0 ? 1u << (s->n_seq - 1) : 0u; }

// A batch_invariant session verifies one chain per step: llama.cpp gives a tree's tokens
// consecutive free KV cells in batch order, and flash attention visits cells in cell order, so
// the accepted tokens must be the first tokens of the batch to sit where plain decoding puts
// them (a path through a later branch would leave holes before it, which the next step fills
// with later positions). So one drafter beam (B <= 1, beam 0), and where it and the copy beam
// part, only the one that expects more accepted tokens after the parting (the other is cut to
// the shared prefix; L = 0 then means no drafter beam).
static void one_chain(rd_session * s, int32_t & B, int32_t & L) {
    if (B == 0 || L == 0 || s->n_copy == 0) return;
    int32_t c = 0;
    while (c < std::min(L, s->n_copy) && s->beams[(size_t) c] == s->copy[c]) c++;
    if (c == L || c == s->n_copy) return; // one is a prefix of the other: one chain already
    double drafter = 0, copy = 0, reach = 1;
    for (int32_t k = c + 1; k <= L; k++) drafter += reach *= rd_policy_accept(s->policy, k, s->q);
    reach = 1;
    const double * cp = s->look_pol.p[std::min(s->copy_match, RD_LOOKUP_MAX_MATCH)];
    for (int32_t k = c + 1; k <= s->n_copy; k++) copy += reach *= cp[k];
    if (drafter >= copy) s->n_copy = c;
    else if ((L = c) == 0) B = 0;
}

// P(the walk reaches node | it reached the parent), for the head's waves: the drafter's
// acceptance at that depth (calibrated by the draft probabilities on the best beam, sequence 0)
// and the copy's, whichever is higher where both beams pass.
static void node_chances(rd_session * s, int32_t B) {
    const rd_tree & t = s->tree;
    const uint32_t drafter = B >= 32 ? 0xFFFFFFFFu : (1u << B) - 1u;
    const uint32_t copy = copy_bit(s);
    s->node_p[0] = 1.0;
    for (int32_t i = 1; i < t.n; i++) {
        double p = 0.0;
        if (t.seqs[i] & drafter) p = rd_policy_accept(s->policy, t.depth[i], (t.seqs[i] & 1u) ? s->step_q : nullptr);
        if (t.seqs[i] & copy) p = std::max(p, s->look_pol.p[std::min(s->copy_match, RD_LOOKUP_MAX_MATCH)][t.depth[i]]);
        s->node_p[i] = p;
    }
}

// The step shared by drafting, injected beams and plain decoding: B*L beams (B = 0: plain) and
// the copy beam s->copy (s->n_copy tokens, none when 0).
static rd_status verify_step(rd_session * s, const int32_t * beams, int32_t B, int32_t L, int32_t max_tokens,
                             int32_t * out, float * logprobs, rd_step_result * r, double t0) {
    rd_tree_build(s->tree, s->g, beams, B, L, all_seqs(s), s->copy, s->n_copy, s->n_seq - 1);
    const rd_tree & t = s->tree;
    const uint32_t copy = copy_bit(s);
    s->batch.n_tokens = 0;
    for (int32_t i = 0; i < t.n; i++) batch_add(s->batch, t.token[i], s->n_past + t.depth[i], t.seqs[i], true);
    r->n_drafted = B * L + s->n_copy;
    r->n_copy = s->n_copy;
    r->n_tree = t.n;
    node_chances(s, B);
    // plain steps too: every logit of the session comes from the same head (for the Q8_0
    // kernel, bit-identical whatever the width of the call)
    s->step_lazy = s->stop_at_norm = s->lazy_head;
    s->wave_n = 0;
    s->n_head = 0;
    s->n_head_calls = 0;
    s->t_head_ms = 0;
    const double t1 = rd_now_ms();
    rd_status st = decode(s);
    s->stop_at_norm = false;
    const double t2 = rd_now_ms();
    r->t_verify_ms = t2 - t1;
    r->target_calls = 1;
    if (st != RD_OK) return st;

    rd_finish finish = RD_FINISH_NONE;
    const int32_t last = rd_accept_walk(s, max_tokens, out, logprobs, &r->n_tokens, &finish);
    r->n_head = s->step_lazy ? s->n_head : t.n;
    r->t_head_ms = s->t_head_ms;
    r->t_verify_ms += s->t_head_ms; // the head is target work, like the decode
    if (last < 0) {
        s->state = rd_state::empty;
        return rd_fail(RD_ERR_BACKEND, "the LM head's ggml graph failed");
    }
    r->n_accepted = t.depth[last];
    s->copy_accepted = 0;
    for (int32_t j = last; j > 0; j = t.parent[j]) {
        r->n_copy_accepted += copy && t.seqs[j] == copy;
        s->copy_accepted += (t.seqs[j] & copy) != 0;
    }
    s->hist.insert(s->hist.end(), out, out + r->n_tokens);
    rd_kv_compact(s, last);
    s->n_past += t.depth[last] + 1;
    memcpy(s->h.data(), llama_get_embeddings_ith(s->ctx, last), s->h.size() * sizeof(float));
    if (finish != RD_FINISH_NONE) { s->state = rd_state::done; r->finish = s->finish = finish; }
    r->t_other_ms = (t1 - t0) + (rd_now_ms() - t2 - s->t_head_ms);
    return RD_OK;
}

// Common entry checks; returns true when the step is fully handled (finished or first token).
static bool step_begin(rd_session * s, int32_t max_tokens, int32_t * out, float * logprobs, rd_step_result * r, rd_status * st) {
    *r = rd_step_result{};
    *st = RD_OK;
    if (s->state == rd_state::empty) { *st = rd_fail(RD_ERR_STATE, "no prompt: call rd_session_prefill first"); return true; }
    if (max_tokens < 1 || !out) { *st = rd_fail(RD_ERR_INVALID_ARG, "max_tokens must be >= 1 and out non-null"); return true; }
    if (s->cancel.load()) { s->state = rd_state::empty; *st = rd_fail(RD_ERR_CANCELLED, "cancelled"); return true; }
    if (s->state == rd_state::done) { r->finish = s->finish; return true; }
    if (s->state == rd_state::prefilled) {
        // the first token comes from the prompt's logits: its target call was the prefill
        const double t0 = rd_now_ms();
        const float * logits = llama_get_logits_ith(s->ctx, -1);
        const int32_t x = rd_sampler_next(s->smp, logits);
        r->n_tree = 1;
        r->target_calls = 1;
        if (x == RD_NO_TOKEN) {
            s->state = rd_state::done;
            r->finish = s->finish = RD_FINISH_NO_TOKEN;
        } else {
            if (logprobs) rd_sampler_logprobs(logits, s->m->n_vocab, x, s->smp.n_probs, logprobs);
            out[0] = x;
            s->g = x;
            s->hist.push_back(x);
            r->n_tokens = 1;
            s->state = rd_state::running;
            if (!s->ignore_eos && llama_vocab_is_eog(s->m->vocab, x)) {
                s->state = rd_state::done;
                r->finish = s->finish = RD_FINISH_EOS;
            }
        }
        r->t_other_ms = rd_now_ms() - t0;
        return true;
    }
    if (s->n_past >= s->n_ctx) {
        s->state = rd_state::done;
        s->finish = RD_FINISH_LENGTH; r->finish = RD_FINISH_LENGTH;
        return true;
    }
    return false;
}

// Feed a finished step to the policy. The acceptance rates also size the head's waves
// (accept.cpp), so they are learnt with a fixed length and from injected beams too.
static void learn(rd_session * s, int32_t L, int32_t drafted, const rd_step_result & r) {
    rd_step_cost c;
    c.q = s->step_q;
    c.n_drafted = drafted;
    c.L_used = L;
    c.accepted = std::min(L, r.n_accepted - r.n_copy_accepted); // the drafter's own share of the path
    c.n_tree = r.n_tree;
    const uint32_t copy = copy_bit(s);
    for (int32_t i = 1; i < s->tree.n; i++) c.n_copy_nodes += copy && s->tree.seqs[i] == copy;
    c.n_head = r.n_head;
    c.n_head_calls = s->n_head_calls;
    c.n_tokens = r.n_tokens;
    c.t_head_ms = r.t_head_ms;
    c.t_decode_ms = r.t_verify_ms - c.t_head_ms;
    c.t_draft_ms = r.t_draft_ms;
    rd_policy_update(s->policy, c);
    rd_lookup_update(s->look_pol, s->copy_match, s->n_copy, s->copy_accepted);
}

rd_status rd_session_step(rd_session * s, bool draft, int32_t max_tokens, int32_t * out, float * logprobs,
                          rd_step_result * r) try {
    rd_step_result dummy;
    if (!r) r = &dummy;
    if (!s) return rd_fail(RD_ERR_INVALID_ARG, "rd_session_step: session is null");
    rd_status st;
    if (step_begin(s, max_tokens, out, logprobs, r, &st)) return st;
    const double t0 = rd_now_ms();
    int32_t B = 0, L = 0, drafted = 0;
    if (draft && s->d && s->B > 0) {
        // shorten the beams near the end of the context: the tree needs n_past + N cells
        L = std::min(s->L, (s->n_ctx - s->n_past - 1) / s->B);
        L = std::min(L, max_tokens - 1); // drafts past the budget could never be emitted
        // adaptive: the first steps measure the costs (rd_policy_choose); after that the drafter
        // goes step by step while the policy, reading the best beam's own probabilities so far
        // (policy.h), expects more depth to pay, and the policy then cuts the beams to the
        // length worth verifying (0: a plain step)
        const bool calibrated = s->adaptive && s->policy.have_root && s->policy.have_node;
        if (L > 0 && s->adaptive && !calibrated) L = rd_policy_choose(s->policy, L);
        if (L > 0) {
            B = s->invariant ? 1 : s->B; // one chain per step: see one_chain
            const int32_t L_max = L;
            auto read_q = [s](int32_t k, const float * sums) { // beam 0's sums come first
                for (int32_t j = 0; j < k; j++) s->q[j] = std::exp(sums[j] - (j > 0 ? sums[j - 1] : 0.0f));
            };
            rd_draft_gate more;
            if (calibrated)
                more = [&](int32_t k, const float * sums) {
                    read_q(k, sums);
                    std::fill(s->q + k, s->q + L_max, NAN);
                    return rd_policy_best(s->policy, L_max, s->q) > k;
                };
            st = rd_drafter_beam_search(s->d, s->h.data(), s->g, B, L, s->beams.data(), s->beam_logp.data(),
                                        s->step_logp.data(), more, &L);
            if (st != RD_OK) return st;
            drafted = L;
            read_q(L, s->step_logp.data());
            if (calibrated) {
                const int32_t keep = rd_policy_choose(s->policy, L, s->q);
                // the first keep tokens of each beam, packed to the new stride
                for (int32_t b = 1; b < B && keep > 0; b++)
                    memmove(&s->beams[(size_t) (b * keep)], &s->beams[(size_t) (b * L)], sizeof(int32_t) * (size_t) keep);
                L = keep;
                if (L == 0) B = 0;
            }
        }
    }
    // the context copy (lookup.h), once a plain step has measured the root alone
    s->n_copy = s->copy_match = 0;
    if (draft && s->lookup > 0 && (!s->adaptive || s->policy.have_root)) {
        const int32_t K = std::min({s->lookup, s->n_ctx - s->n_past - 1 - B * L, max_tokens - 1});
        const int32_t n = rd_lookup_propose(s->hist.data(), (int32_t) s->hist.size(), 1, K, s->copy, &s->copy_match);
        s->n_copy = s->adaptive ? rd_lookup_length(s->look_pol, s->policy, s->copy_match, n) : n;
    }
    if (s->invariant) one_chain(s, B, L);
    const double t1 = rd_now_ms();
    r->t_draft_ms = t1 - t0;
    s->step_q = L > 0 ? s->q : nullptr;
    st = verify_step(s, s->beams.data(), B, L, max_tokens, out, logprobs, r, t1);
    if (st == RD_OK && draft && (s->d || s->lookup > 0)) learn(s, L, drafted, *r);
    return st;
} catch (...) { return session_caught(s, __func__); }

rd_status rd_session_step_beams(rd_session * s, const int32_t * beams, int32_t B, int32_t L, int32_t max_tokens,
                                int32_t * out, float * logprobs, rd_step_result * r) try {
    rd_step_result dummy;
    if (!r) r = &dummy;
    if (!s) return rd_fail(RD_ERR_INVALID_ARG, "rd_session_step_beams: session is null");
    if (B < 0 || B > s->n_seq || L < 0 || L > RD_MAX_BEAM_LENGTH || (B > 0 && !beams))
        return rd_fail(RD_ERR_INVALID_ARG, "injected beams %d x %d do not fit the session (%d seqs)", B, L, s->n_seq);
    rd_status st;
    if (step_begin(s, max_tokens, out, logprobs, r, &st)) return st;
    if (s->n_past + 1 + B * L > s->n_ctx) return rd_fail(RD_ERR_CONTEXT_FULL, "the injected tree does not fit the context");
    for (int32_t i = 0; i < B * L; i++)
        if (beams[i] < 0 || beams[i] >= s->m->n_vocab) return rd_fail(RD_ERR_INVALID_ARG, "beam token %d out of range", beams[i]);
    s->step_q = nullptr;
    s->n_copy = s->copy_match = 0;
    if (s->invariant) B = std::min(B, 1); // one chain per step (one_chain)
    st = verify_step(s, beams, B, L, max_tokens, out, logprobs, r, rd_now_ms());
    if (st == RD_OK && B > 0 && L > 0) learn(s, L, L, *r);
    return st;
} catch (...) { return session_caught(s, __func__); }
