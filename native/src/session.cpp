// session.cpp - session lifecycle, prompt prefill and the decoding step, orchestrated over the
// parts in session.h: draft and copy (session_policy.h) -> tree (tree.h) -> ONE llama_decode
// (session_target.h) -> accept (accept.cpp, with the LM head on demand, session_head.h) -> KV
// (kv.cpp) -> learn (session_policy.h).
#include "session.h"
#include "drafter.h"

#include <algorithm>
#include <cstring>

void rd_session_default_params(rd_session_params * p) {
    if (!p) return;
    p->n_ctx = 0;
    p->n_batch = 512;
    p->n_threads = 0;
    p->beam_width = 1;  // the fastest shape measured on CPU (README, docs/distill.md): one beam,
    p->beam_length = 4; // the most; the adaptive policy drafts and verifies 0..L per step
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
    if (p->beam_width < 1 || p->beam_width > RD_MAX_BEAMS)
        return rd_fail(RD_ERR_INVALID_ARG, "beam width must be in 1..%d (got %d)", RD_MAX_BEAMS, p->beam_width);
    if (p->beam_length < 1 || p->beam_length > RD_MAX_BEAM_LENGTH)
        return rd_fail(RD_ERR_INVALID_ARG, "beam length must be in 1..%d (got %d)", RD_MAX_BEAM_LENGTH, p->beam_length);
    if (p->lookup < 0 || p->lookup > RD_MAX_BEAM_LENGTH)
        return rd_fail(RD_ERR_INVALID_ARG, "lookup must be in 0..%d (got %d)", RD_MAX_BEAM_LENGTH, p->lookup);
    if (1 + p->beam_width * p->beam_length >= n_ctx)
        return rd_fail(RD_ERR_INVALID_ARG, "a tree of 1 + %d x %d nodes does not fit a context of %d tokens",
                       p->beam_width, p->beam_length, n_ctx);

    auto s = std::make_unique<rd_session>();
    s->m = m;
    s->d = d;
    // beams are allocated even without a drafter: rd_session_step_beams can inject them
    session_draft & dr = s->draft;
    dr.B = p->beam_width;
    dr.L = p->beam_length;
    dr.adaptive = p->adaptive;
    rd_policy_init(dr.policy);
    s->copy.max = p->lookup;
    rd_lookup_policy_init(s->copy.pol);
    const int32_t max_tree = 1 + dr.B * dr.L + s->copy.max;
    const int32_t n_seq = dr.B + (s->copy.max > 0); // the copy beam's sequence comes last
    const int32_t threads = p->n_threads > 0 ? p->n_threads : rd_default_threads();
    if (rd_status st = session_target_init(s->target, m, *p, n_ctx, std::max(p->n_batch, max_tree), n_seq, threads);
        st != RD_OK)
        return st;
    if (s->target.n_batch < max_tree)
        return rd_fail(RD_ERR_INVALID_ARG, "a tree of 1 + %d x %d + %d nodes exceeds the batch of %d tokens", dr.B, dr.L,
                       s->copy.max, s->target.n_batch);
    s->h.assign((size_t) m->n_embd, 0.0f);
    dr.beams.resize((size_t) (dr.B * dr.L));
    dr.beam_logp.resize((size_t) dr.B);
    dr.step_logp.resize(dr.beams.size());
    s->hist.reserve((size_t) s->target.n_ctx);
    // With the body pool, ggml runs one thread; the drafter's ggml graphs too, rather than start
    // threads of their own beside the pool's spinning ones (thread_pool.h)
    if (d) rd_drafter_set_threads(d, s->target.body_pool ? 1 : threads);
    if (p->lazy_head) session_head_init(s->lazy, m, s->target, threads);
    *out = s.release();
    return RD_OK;
} catch (...) { return rd_caught(__func__); }

void rd_session_free(rd_session * s) { delete s; }

int32_t rd_session_n_ctx(const rd_session * s) { return s->target.n_ctx; }
int32_t rd_session_n_past(const rd_session * s) { return s->n_past; }
bool rd_session_flash_attn(const rd_session * s) { return s->target.flash; }
void rd_session_cancel(rd_session * s) { if (s) s->target.cancel.store(true); }
const float * rd_session_hidden(const rd_session * s) { return s->state == rd_state::empty ? nullptr : s->h.data(); }

void session_reset(rd_session * s) {
    s->target.cancel.store(false);
    s->state = rd_state::empty;
    s->finish = RD_FINISH_NONE;
    s->n_past = 0;
    // the cells only: zeroing the cache's bytes too (data = true) wrote all of it, 94 MB for
    // SmolLM2 at 4096 tokens, on every prompt. Stale cells hold finite values (llama.cpp zeroes
    // the buffers once, at creation) and every attention path gives masked cells no weight.
    llama_memory_clear(llama_get_memory(s->target.ctx), false);
}

rd_status rd_session_prefill(rd_session * s, const int32_t * tokens, int32_t n, const rd_sampler_params * sp) try {
    if (!s || !tokens || !sp) return rd_fail(RD_ERR_INVALID_ARG, "rd_session_prefill: session, tokens and sampler are required");
    session_reset(s);
    session_target & tg = s->target;
    if (n < 1) return rd_fail(RD_ERR_INVALID_ARG, "the prompt is empty");
    if (n >= tg.n_ctx)
        return rd_fail(RD_ERR_CONTEXT_FULL, "the prompt has %d tokens but the context holds %d (and needs room to generate)", n, tg.n_ctx);
    for (int32_t i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= s->m->n_vocab)
            return rd_fail(RD_ERR_INVALID_ARG, "prompt token %d at index %d is outside the vocabulary", tokens[i], i);
    if (rd_status st = rd_sampler_build(s->smp, s->m, *sp); st != RD_OK) return st;
    s->ignore_eos = sp->ignore_eos;

    // With embeddings on, llama.cpp makes every token of a batch an output, i.e. runs the LM
    // head on it (for Gemma 3: 262144 x 640 per token). Only the last prompt token's logits and
    // hidden state are needed, so the rest of the prompt is decoded with embeddings off.
    llama_set_embeddings(tg.ctx, false);
    for (int32_t i = 0; i < n - 1; i += tg.n_batch) {
        const int32_t k = std::min(tg.n_batch, n - 1 - i);
        tg.batch.n_tokens = 0;
        for (int32_t j = 0; j < k; j++) session_target_add(tg, tokens[i + j], i + j, 1u, false);
        if (rd_status st = session_target_decode(tg); st != RD_OK) { llama_set_embeddings(tg.ctx, true); return st; }
    }
    llama_set_embeddings(tg.ctx, true);
    tg.batch.n_tokens = 0;
    session_target_add(tg, tokens[n - 1], n - 1, 1u, true);
    if (rd_status st = session_target_decode(tg); st != RD_OK) return st;
    llama_memory_t mem = llama_get_memory(tg.ctx);
    for (int32_t q = 1; q < tg.n_seq; q++) llama_memory_seq_cp(mem, 0, q, -1, -1);
    memcpy(s->h.data(), llama_get_embeddings_ith(tg.ctx, -1), s->h.size() * sizeof(float));
    s->n_past = n;
    s->hist.assign(tokens, tokens + n);
    s->state = rd_state::prefilled;
    return RD_OK;
} catch (...) { return session_caught(s, __func__); }

// A step's first half: its tree (B*L beams, B = 0: plain, and the copy beam s->copy) into the
// batch, one output row per node, with each node's chance to be reached.
static void step_fill(rd_session * s, const int32_t * beams, int32_t B, int32_t L, rd_step_result * r) {
    session_target & tg = s->target;
    rd_tree_build(s->tree, s->g, beams, B, L, session_target_all_seqs(tg), s->copy.tok, s->copy.n, tg.n_seq - 1);
    const rd_tree & t = s->tree;
    tg.batch.n_tokens = 0;
    for (int32_t i = 0; i < t.n; i++) session_target_add(tg, t.token[i], s->n_past + t.depth[i], t.seqs[i], true);
    r->n_drafted = B * L + s->copy.n;
    r->n_copy = s->copy.n;
    r->n_tree = t.n;
    session_node_chances(s, B);
    session_head_begin(s->lazy, tg);
}

// Its second half, after the decode: the acceptance walk, then the KV cache, the history and
// the hidden state follow the accepted path.
static rd_status step_finish(rd_session * s, int32_t max_tokens, int32_t * out, float * logprobs, rd_step_result * r) {
    const rd_tree & t = s->tree;
    rd_finish finish = RD_FINISH_NONE;
    const int32_t last = rd_accept_walk(s, max_tokens, out, logprobs, &r->n_tokens, &finish);
    r->n_head = s->lazy.step_lazy ? s->lazy.n_cols : t.n;
    r->t_head_ms = s->lazy.t_ms;
    r->t_verify_ms += s->lazy.t_ms; // the head is target work, like the decode
    if (last < 0) {
        s->state = rd_state::empty;
        return rd_fail(RD_ERR_BACKEND, "the LM head's ggml graph failed");
    }
    r->n_accepted = t.depth[last];
    const uint32_t copy = session_copy_bit(s);
    s->copy.accepted = 0;
    for (int32_t j = last; j > 0; j = t.parent[j]) {
        r->n_copy_accepted += copy && t.seqs[j] == copy;
        s->copy.accepted += (t.seqs[j] & copy) != 0;
    }
    s->hist.insert(s->hist.end(), out, out + r->n_tokens);
    rd_kv_compact(s, last);
    s->n_past += t.depth[last] + 1;
    memcpy(s->h.data(), llama_get_embeddings_ith(s->target.ctx, last), s->h.size() * sizeof(float));
    if (finish != RD_FINISH_NONE) { s->state = rd_state::done; r->finish = s->finish = finish; }
    return RD_OK;
}

// The step shared by drafting, injected beams and plain decoding; t0: when the step began.
static rd_status verify_step(rd_session * s, const int32_t * beams, int32_t B, int32_t L, int32_t max_tokens,
                             int32_t * out, float * logprobs, rd_step_result * r, double t0) {
    step_fill(s, beams, B, L, r);
    const double t1 = rd_now_ms();
    rd_status st = session_target_decode(s->target);
    s->target.stop_at_norm = false;
    const double t2 = rd_now_ms();
    r->t_verify_ms = t2 - t1;
    r->target_calls = 1;
    if (st != RD_OK) {
        s->state = rd_state::empty;
        return st;
    }
    if ((st = step_finish(s, max_tokens, out, logprobs, r)) != RD_OK) return st;
    r->t_other_ms = (t1 - t0) + (rd_now_ms() - t2 - s->lazy.t_ms);
    return RD_OK;
}

// Common entry checks; returns true when the step is fully handled (finished or first token).
static bool step_begin(rd_session * s, int32_t max_tokens, int32_t * out, float * logprobs, rd_step_result * r, rd_status * st) {
    *r = rd_step_result{};
    *st = RD_OK;
    if (s->state == rd_state::empty) { *st = rd_fail(RD_ERR_STATE, "no prompt: call rd_session_prefill first"); return true; }
    if (max_tokens < 1 || !out) { *st = rd_fail(RD_ERR_INVALID_ARG, "max_tokens must be >= 1 and out non-null"); return true; }
    if (s->target.cancel.load()) { s->state = rd_state::empty; *st = rd_fail(RD_ERR_CANCELLED, "cancelled"); return true; }
    if (s->state == rd_state::done) { r->finish = s->finish; return true; }
    if (s->state == rd_state::prefilled) {
        // the first token comes from the prompt's logits: its target call was the prefill
        const double t0 = rd_now_ms();
        const float * logits = llama_get_logits_ith(s->target.ctx, -1);
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
    if (s->n_past >= s->target.n_ctx) {
        s->state = rd_state::done;
        s->finish = RD_FINISH_LENGTH; r->finish = RD_FINISH_LENGTH;
        return true;
    }
    return false;
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
    // the gate (policy.h) once the policy has measured its costs, a plain step and a full one
    const bool speculate = draft && (s->d || s->copy.max > 0);
    const bool gated = speculate && s->draft.adaptive && s->draft.policy.have_root && s->draft.policy.have_node;
    const bool spec = speculate && (!gated || rd_gate_choose(s->draft.gate));
    if (spec && s->d && s->draft.B > 0)
        if ((st = session_draft_beams(s, max_tokens, &B, &L, &drafted)) != RD_OK) return st;
    // the context copy (lookup.h), once a plain step has measured the root alone
    s->copy.n = s->copy.match = 0;
    if (spec && s->copy.max > 0 && (!s->draft.adaptive || s->draft.policy.have_root))
        session_copy_propose(s, max_tokens, B, L);
    if (s->target.invariant) session_one_chain(s, B, L);
    const double t1 = rd_now_ms();
    r->t_draft_ms = t1 - t0;
    s->draft.step_q = L > 0 ? s->draft.q : nullptr;
    st = verify_step(s, s->draft.beams.data(), B, L, max_tokens, out, logprobs, r, t1);
    if (st == RD_OK && speculate) session_learn(s, L, drafted, *r);
    if (st == RD_OK && gated)
        rd_gate_update(s->draft.gate, spec, r->n_tokens, r->t_draft_ms + r->t_verify_ms + r->t_other_ms);
    return st;
} catch (...) { return session_caught(s, __func__); }

rd_status rd_session_step_beams(rd_session * s, const int32_t * beams, int32_t B, int32_t L, int32_t max_tokens,
                                int32_t * out, float * logprobs, rd_step_result * r) try {
    rd_step_result dummy;
    if (!r) r = &dummy;
    if (!s) return rd_fail(RD_ERR_INVALID_ARG, "rd_session_step_beams: session is null");
    // the batch holds the session's own shape and no more (rd_session_init)
    if (B < 0 || B > s->draft.B || L < 0 || L > s->draft.L || (B > 0 && !beams))
        return rd_fail(RD_ERR_INVALID_ARG, "injected beams %d x %d do not fit the session's %d x %d", B, L, s->draft.B,
                       s->draft.L);
    rd_status st;
    if (step_begin(s, max_tokens, out, logprobs, r, &st)) return st;
    if (s->n_past + 1 + B * L > s->target.n_ctx) return rd_fail(RD_ERR_CONTEXT_FULL, "the injected tree does not fit the context");
    for (int32_t i = 0; i < B * L; i++)
        if (beams[i] < 0 || beams[i] >= s->m->n_vocab) return rd_fail(RD_ERR_INVALID_ARG, "beam token %d out of range", beams[i]);
    s->draft.step_q = nullptr;
    s->copy.n = s->copy.match = 0;
    if (s->target.invariant) B = std::min(B, 1); // one chain per step (session_one_chain)
    st = verify_step(s, beams, B, L, max_tokens, out, logprobs, r, rd_now_ms());
    if (st == RD_OK && B > 0 && L > 0) session_learn(s, L, L, *r);
    return st;
} catch (...) { return session_caught(s, __func__); }
