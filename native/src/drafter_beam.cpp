// drafter_beam.cpp - ReDrafter beam search: from the target's hidden state h and its last
// sampled token g, grow B beams of L draft tokens with the drafter's forward graph.
// Step 1 runs one column (x_1 = g, s_0 = 0) and keeps its top B tokens; each later step runs the
// B beams as the B columns of one graph evaluation and keeps the top B of the B x V'
// continuations by summed log-probability. Ties go to the lower (beam, token) index, so the
// result is deterministic.
//
// Shape legend: B = beam width, L = beam length, d = target hidden size, V' = draft vocab.
// Cost per search: one step of 1 column + (L-1) steps of B columns, dominated by the LM head
// [e, V']. A CPU drafter of F16 / Q8_0 weights runs its steps on the host (drafter_host.h);
// otherwise each step is a graph. So nothing is built or allocated per step: two graphs (1 and B
// columns), each allocated once by its own gallocr, and host scratch sized once per B.
// Log-softmax and the top-B selection run on the host, O(V') per column, without sorting.
// Over 300 lines because the beam search and the graph it drives share one scratch layout per B.
#include "drafter_graph.h"
#include "drafter_host.h"
#include "gguf_matrix.h"
#include "head_kernel.h"
#include "ggml-alloc.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <thread>

namespace {

// One forward step compiled for a fixed column count n.
struct step_graph {
    int32_t        n = 0;
    ggml_context * ctx = nullptr;    // graph tensors (their data lives in alloc's buffer)
    ggml_cgraph *  gf = nullptr;
    ggml_gallocr_t alloc = nullptr;
    ggml_tensor *  emb = nullptr;    // in  [d, n]  E(x) per column
    ggml_tensor *  s_prev = nullptr; // in  [d, n]  previous state; nullptr in the first step
    ggml_tensor *  h = nullptr;      // in  [d, 1]  target hidden state, shared by the columns
    ggml_tensor *  s = nullptr;      // out [d, n]  new state
    ggml_tensor *  logits = nullptr; // out [V', n], or with the kernel's LM head:
    ggml_tensor *  z = nullptr;      // out [e, n]  the LM head's input

    ~step_graph() {
        if (alloc) ggml_gallocr_free(alloc);
        if (ctx) ggml_free(ctx);
    }
};

// A continuation: beam `beam` extended by draft index tok, with its summed log-probability.
struct cand {
    float   score;
    int32_t beam;
    int32_t tok;
};

// Best first: the higher score, then the lower (beam, token) index. A NaN score never wins a
// comparison, which keeps a broken drafter's output deterministic and memory-safe.
inline bool better(const cand & a, const cand & b) {
    if (a.score != b.score) return a.score > b.score;
    return a.beam != b.beam ? a.beam < b.beam : a.tok < b.tok;
}

// The k best candidates offered so far, best first; insertion, as k <= RD_MAX_BEAMS.
struct top_k {
    cand    items[RD_MAX_BEAMS];
    int32_t k = 0, count = 0;

    void offer(const cand & c) {
        if (count == k && !better(c, items[k - 1])) return;
        int32_t i = count < k ? count++ : k - 1;
        for (; i > 0 && better(c, items[i - 1]); i--) items[i] = items[i - 1];
        items[i] = c;
    }
};

// exp(t) for t <= 0, branch-free so that sum_exp's loop vectorizes (std::exp is a call, and
// a float compare-and-select does not vectorize under GCC's default -ftrapping-math):
// t = n ln2 + r with |r| <= ln2/2, exp(r) by its Taylor series to r^7 (relative error < 1e-7),
// 2^n written into the exponent bits. The clamp to [-87, 0] works on the bit pattern: the sign
// bit is forced on, then an unsigned min caps the magnitude, which also turns -inf and NaN into
// -87. So 2^n stays a normal float and the float -> int conversion is always defined.
inline float exp_nonpos(float t) {
    uint32_t u;
    memcpy(&u, &t, sizeof u);
    u |= 0x80000000u;
    u = u < 0xC2AE0000u ? u : 0xC2AE0000u; // bits of -87.0f
    memcpy(&t, &u, sizeof t);
    const float round = 12582912.0f; // 1.5 * 2^23: adding it rounds to an integer
    const float n = (t * 1.44269504f + round) - round;
    const float r = (t - n * 0.693145752f) - n * 1.42860677e-6f; // ln2 in two parts
    float p = 1.0f / 5040;
    p = p * r + 1.0f / 720;
    p = p * r + 1.0f / 120;
    p = p * r + 1.0f / 24;
    p = p * r + 1.0f / 6;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    const int32_t bits = ((int32_t) n + 127) * (1 << 23);
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

// sum_j exp(x[j] - max). Sixteen float lanes per block of 256, blocks summed in double: the
// lanes vectorize, and no float partial sum grows beyond 16 terms.
double sum_exp(const float * x, int32_t n, float max) {
    double total = 0.0;
    for (int32_t b0 = 0; b0 < n; b0 += 256) {
        const int32_t b1 = std::min(n, b0 + 256);
        float lane[16] = {};
        int32_t j = b0;
        for (; j + 16 <= b1; j += 16)
            for (int32_t l = 0; l < 16; l++) lane[l] += exp_nonpos(x[j + l] - max);
        for (; j < b1; j++) lane[0] += exp_nonpos(x[j] - max);
        double block = 0.0;
        for (int32_t l = 0; l < 16; l++) block += lane[l];
        total += block;
    }
    return total;
}

// Offers every token of one logits column x (n_vocab floats) to top, scored as
// base + log_softmax(x)[tok]. Three passes over x (max, sum of exp, select); the select pass
// rejects almost every token with one compare once top is full.
void offer_column(const float * x, int32_t n_vocab, int32_t beam, float base, top_k & top) {
    float max = x[0];
    for (int32_t j = 1; j < n_vocab; j++) max = std::max(max, x[j]);
    const float shift = base - (float) ((double) max + std::log(sum_exp(x, n_vocab, max))); // score = x + shift
    for (int32_t j = 0; j < n_vocab; j++) {
        const float score = x[j] + shift;
        if (top.count < top.k || score >= top.items[top.k - 1].score) top.offer({score, beam, j});
    }
}

} // namespace

struct drafter_runtime {
    int32_t B = 0;                     // the width the scratch below is sized for
    // The whole step on the host (drafter_host.h) where the weights allow; else the graphs.
    std::unique_ptr<drafter_host> host;
    std::unique_ptr<step_graph> first; // step 1: one column, zero state
    std::unique_ptr<step_graph> step;  // steps 2..L: B columns
    std::vector<float>   emb;          // [d, B]
    std::vector<float>   state;        // [d, B]  s of the current beams, fed as s_prev
    std::vector<float>   state_out;    // [d, B]  s read back from the graph
    std::vector<float>   logits;       // [V', B] copy of the logits, for non-host buffers only
    std::vector<int32_t> toks, toks_next;     // [B, L] draft indices per beam
    std::vector<float>   scores, scores_next; // [B, L] summed log-probability after each step
    // The LM head on the head kernel (head_kernel.h), prepared once when the weights are in host
    // memory and of a type it takes; null: ggml's mul_mat in the graph.
    std::unique_ptr<rd_hk_matrix> head;
    bool                 head_checked = false;
    rd_hk_isa            isa = rd_hk_isa::scalar;
    rd_hk_scratch        hk;
    std::vector<float>   head_out;     // [V', B]
};

void drafter_runtime_deleter::operator()(drafter_runtime * rt) const { delete rt; }

// Builds and allocates the step graph for n columns (first: no previous state).
static rd_status build_step(rd_drafter * d, int32_t n, bool first, bool kernel_head, std::unique_ptr<step_graph> * out) {
    const int64_t dim = d->hp.n_embd;
    auto g = std::make_unique<step_graph>();
    g->n = n;
    // the graph has ~10 + 5 * n_layers tensors; 128 leaves room for ggml's views
    ggml_init_params ip = { ggml_tensor_overhead() * 128 + ggml_graph_overhead(), nullptr, /*no_alloc =*/ true };
    g->ctx = ggml_init(ip);
    if (!g->ctx) return rd_fail(RD_ERR_NO_MEMORY, "drafter: cannot create a graph context");

    g->emb = ggml_new_tensor_2d(g->ctx, GGML_TYPE_F32, dim, n);
    g->h   = ggml_new_tensor_2d(g->ctx, GGML_TYPE_F32, dim, 1);
    ggml_set_input(g->emb);
    ggml_set_input(g->h);
    if (!first) {
        g->s_prev = ggml_new_tensor_2d(g->ctx, GGML_TYPE_F32, dim, n);
        ggml_set_input(g->s_prev);
    }
    g->s = drafter_build_rnn(g->ctx, d->w, g->emb, g->s_prev);
    ggml_tensor * out_t;
    if (kernel_head) out_t = g->z = drafter_build_head_input(g->ctx, d->hp, d->w, g->h, g->s);
    else out_t = g->logits = drafter_build_head(g->ctx, d->hp, d->w, g->h, g->s);
    ggml_set_output(g->s);
    ggml_set_output(out_t);
    g->gf = ggml_new_graph(g->ctx);
    ggml_build_forward_expand(g->gf, g->s);
    ggml_build_forward_expand(g->gf, out_t);

    // A GPU backend may lack an op (e.g. q8_0 on some Vulkan drivers): refuse here rather than
    // let ggml abort mid-compute.
    for (int i = 0; i < ggml_graph_n_nodes(g->gf); i++) {
        ggml_tensor * node = ggml_graph_node(g->gf, i);
        if (!ggml_backend_supports_op(d->backend, node))
            return rd_fail(RD_ERR_BACKEND, "drafter: backend %s cannot run %s (%s)", ggml_backend_name(d->backend),
                           ggml_op_desc(node), ggml_type_name(node->src[0] ? node->src[0]->type : node->type));
    }
    g->alloc = ggml_gallocr_new(ggml_backend_get_default_buffer_type(d->backend));
    if (!g->alloc || !ggml_gallocr_alloc_graph(g->alloc, g->gf))
        return rd_fail(RD_ERR_NO_MEMORY, "drafter: cannot allocate the compute buffer for %d beams", n);
    *out = std::move(g);
    return RD_OK;
}

// Makes sure the graphs and scratch for width B exist (built on the first search, rebuilt only
// when a session with another B uses the drafter).
static rd_status prepare(rd_drafter * d, int32_t B) {
    if (!d->rt) d->rt.reset(new drafter_runtime());
    drafter_runtime & rt = *d->rt;
    if (!rt.head_checked) {
        rt.head_checked = true;
        rt.host = drafter_host_prepare(*d);
        rt.isa = rd_hk_best_isa();
        if (!rt.host) {
            auto m = std::make_unique<rd_hk_matrix>();
            if (drafter_kernel_matrix(d->w.lm_head, rt.isa, *m)) rt.head = std::move(m);
        }
    }
    if (!rt.host && !rt.first)
        if (rd_status st = build_step(d, 1, true, rt.head != nullptr, &rt.first); st != RD_OK) return st;
    if (!rt.host && (!rt.step || rt.step->n != B)) {
        rt.step.reset();
        if (rd_status st = build_step(d, B, false, rt.head != nullptr, &rt.step); st != RD_OK) return st;
    }
    if (rt.B != B) {
        rt.B = B;
        const size_t dB = (size_t) d->hp.n_embd * B;
        rt.emb.assign(dB, 0.0f);
        rt.state.assign(dB, 0.0f);
        rt.state_out.assign(dB, 0.0f);
        rt.logits.clear(); // sized on first use, only off-host
        if (rt.host) rt.head_out.assign((size_t) d->hp.n_draft_vocab * B, 0.0f);
        rt.toks.assign((size_t) B * RD_MAX_BEAM_LENGTH, 0);
        rt.toks_next.assign((size_t) B * RD_MAX_BEAM_LENGTH, 0);
        rt.scores.assign((size_t) B * RD_MAX_BEAM_LENGTH, 0.0f);
        rt.scores_next.assign((size_t) B * RD_MAX_BEAM_LENGTH, 0.0f);
    }
    return RD_OK;
}

// Runs g and returns its logits [V', n]: straight from the tensor on a host buffer (the CPU
// backend), else copied into scratch.
static rd_status run_step(rd_drafter * d, step_graph & g, std::vector<float> & scratch, const float ** logits,
                          rd_pool * pool) {
    if (ggml_backend_graph_compute(d->backend, g.gf) != GGML_STATUS_SUCCESS)
        return rd_fail(RD_ERR_BACKEND, "drafter: graph compute failed on %s", ggml_backend_name(d->backend));
    if (g.z) { // the LM head on the kernel, its input read in place (a host buffer)
        drafter_runtime & rt = *d->rt;
        rt.head_out.resize((size_t) rt.head->V * (size_t) g.n);
        rd_hk_matmul(*rt.head, static_cast<const float *>(g.z->data), g.n, rt.head_out.data(), rt.hk, pool, rt.isa);
        *logits = rt.head_out.data();
        return RD_OK;
    }
    if (ggml_backend_buffer_is_host(g.logits->buffer)) {
        *logits = static_cast<const float *>(g.logits->data);
    } else {
        scratch.resize((size_t) ggml_nelements(g.logits));
        ggml_backend_tensor_get(g.logits, scratch.data(), 0, ggml_nbytes(g.logits));
        *logits = scratch.data();
    }
    return RD_OK;
}

rd_status rd_drafter_beam_search(rd_drafter * d, const float * h, int32_t g, int32_t B, int32_t L,
                                 int32_t * beams, float * beam_logp, float * step_logp,
                                 const rd_draft_gate & more, int32_t * n_steps, rd_pool * pool) {
    if (!d || !h || !beams || !beam_logp)
        return rd_fail(RD_ERR_INVALID_ARG, "rd_drafter_beam_search: drafter, h, beams and beam_logp are required");
    if (B < 1 || B > RD_MAX_BEAMS || L < 1 || L > RD_MAX_BEAM_LENGTH)
        return rd_fail(RD_ERR_INVALID_ARG, "beam width %d / length %d out of range 1..%d / 1..%d", B, L, RD_MAX_BEAMS, RD_MAX_BEAM_LENGTH);
    if (g < 0 || g >= d->hp.n_vocab)
        return rd_fail(RD_ERR_INVALID_ARG, "drafter: token %d is not in the target vocab (0..%d)", g, d->hp.n_vocab - 1);
    const gguf_matrix * E = d->m->embd.get();
    if (!E) return rd_fail(RD_ERR_STATE, "drafter: the target's token embeddings are not open");

    std::lock_guard<std::mutex> lock(d->mu);
    if (rd_status st = prepare(d, B); st != RD_OK) return st;
    drafter_runtime & rt = *d->rt;
    const int32_t dim = d->hp.n_embd, V = d->hp.n_draft_vocab;
    const size_t row = sizeof(float) * (size_t) dim;

    // Beams are only distinct while there are enough continuations (V' < B, or V' = 1): the
    // first n_live beams are real, the rest copy the last real one (same tokens and score, so
    // the output stays sorted and every input column is initialised).
    int32_t n_live = 0;
    auto take = [&](const top_k & top, const float * s_out, int32_t k) {
        for (int32_t i = 0; i < top.count; i++) {
            const cand & c = top.items[i];
            if (k > 0) {
                memcpy(&rt.toks_next[(size_t) i * L], &rt.toks[(size_t) c.beam * L], sizeof(int32_t) * (size_t) k);
                memcpy(&rt.scores_next[(size_t) i * L], &rt.scores[(size_t) c.beam * L], sizeof(float) * (size_t) k);
            }
            rt.toks_next[(size_t) i * L + k] = c.tok;
            rt.scores_next[(size_t) i * L + k] = c.score;
            memcpy(&rt.state[(size_t) i * dim], s_out + (size_t) c.beam * dim, row);
        }
        n_live = top.count;
        for (int32_t i = n_live; i < B; i++) {
            memcpy(&rt.toks_next[(size_t) i * L], &rt.toks_next[(size_t) (n_live - 1) * L], sizeof(int32_t) * (size_t) (k + 1));
            memcpy(&rt.scores_next[(size_t) i * L], &rt.scores_next[(size_t) (n_live - 1) * L], sizeof(float) * (size_t) (k + 1));
            memcpy(&rt.state[(size_t) i * dim], &rt.state[(size_t) (n_live - 1) * dim], row);
        }
        std::swap(rt.toks, rt.toks_next);
        std::swap(rt.scores, rt.scores_next);
    };

    // Step 1: x_1 = g, s_0 = 0, one column; grow one beam into its top B tokens.
    {
        E->row(g, rt.emb.data());
        const float * logits = rt.head_out.data();
        if (rt.host) {
            drafter_host_step(*rt.host, d->hp, 1, rt.emb.data(), nullptr, h, rt.state_out.data(), rt.head_out.data(), pool);
        } else {
            step_graph & sg = *rt.first;
            ggml_backend_tensor_set(sg.emb, rt.emb.data(), 0, row);
            ggml_backend_tensor_set(sg.h, h, 0, row);
            if (rd_status st = run_step(d, sg, rt.logits, &logits, pool); st != RD_OK) return st;
            ggml_backend_tensor_get(sg.s, rt.state_out.data(), 0, row);
        }
        top_k top;
        top.k = std::min(B, V);
        offer_column(logits, V, 0, 0.0f, top);
        take(top, rt.state_out.data(), 0);
    }

    // Steps 2..L: feed each beam's last token and state; keep the top B of n_live x V'.
    int32_t done = 1;
    for (int32_t k = 1; k < L; k++) {
        if (more && !more(k, rt.scores.data())) break;
        for (int32_t b = 0; b < B; b++)
            E->row(d->vocab_ids[(size_t) rt.toks[(size_t) b * L + k - 1]], &rt.emb[(size_t) b * dim]);
        const float * logits = rt.head_out.data();
        if (rt.host) {
            drafter_host_step(*rt.host, d->hp, B, rt.emb.data(), rt.state.data(), h, rt.state_out.data(), rt.head_out.data(), pool);
        } else {
            step_graph & sg = *rt.step;
            // every input is set before every run: gallocr reuses an input's memory for later
            // nodes once it has been read, so h does not survive from one step to the next
            ggml_backend_tensor_set(sg.h, h, 0, row);
            ggml_backend_tensor_set(sg.emb, rt.emb.data(), 0, row * B);
            ggml_backend_tensor_set(sg.s_prev, rt.state.data(), 0, row * B);
            if (rd_status st = run_step(d, sg, rt.logits, &logits, pool); st != RD_OK) return st;
            ggml_backend_tensor_get(sg.s, rt.state_out.data(), 0, row * B);
        }
        top_k top;
        top.k = (int32_t) std::min<int64_t>(B, (int64_t) n_live * V);
        for (int32_t b = 0; b < n_live; b++)
            offer_column(logits + (size_t) b * V, V, b, rt.scores[(size_t) b * L + k - 1], top);
        take(top, rt.state_out.data(), k);
        done = k + 1;
    }

    for (int32_t b = 0; b < B; b++) {
        for (int32_t k = 0; k < done; k++)
            beams[b * done + k] = d->vocab_ids[(size_t) rt.toks[(size_t) b * L + k]];
        beam_logp[b] = rt.scores[(size_t) b * L + done - 1];
        if (step_logp) memcpy(&step_logp[b * done], &rt.scores[(size_t) b * L], sizeof(float) * (size_t) done);
    }
    if (n_steps) *n_steps = done;
    return RD_OK;
}

bool rd_drafter_on_host(rd_drafter * d) {
    std::lock_guard<std::mutex> lock(d->mu);
    return d->rt && d->rt->host;
}

void rd_drafter_set_threads(rd_drafter * d, int32_t n_threads) {
    if (!d) return;
    std::lock_guard<std::mutex> lock(d->mu);
    rd_backend_set_threads(d->backend, n_threads);
}
