// session_target.cpp - the llama.cpp context of a session, its batch and decode (see
// session_target.h).
#include "session_target.h"
#include "body_kernel.h"

#include <cstdlib>
#include <cstring>

session_target::~session_target() {
    if (batch.token) llama_batch_free(batch);
    if (ctx) llama_free(ctx);
}

static bool abort_cb(void * data) {
    return static_cast<session_target *>(data)->cancel.load(std::memory_order_relaxed);
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
    auto * s = static_cast<session_target *>(data);
    if (!s->stop_at_norm) return false;
    if (!is_final_norm(t)) return ask ? false : true;
    if (ask) return true;
    s->norm_seen = true;
    return false;
}

rd_status session_target_init(session_target & t, rd_model * m, const rd_session_params & p, int32_t n_ctx,
                              int32_t n_batch, int32_t n_seq, int32_t n_threads) {
    t.n_seq = n_seq;
    // A body-kernel model's products go to the kernel on the session's pool, ggml's other ops to
    // one thread: ggml on more threads cannot hand over to the kernel cheaply (body_kernel.h).
    t.one_thread = n_threads == 1 || m->body_kernel;
    t.body_attention = m->body_kernel;
    t.body_packs = m->body_packs.get();
    if (m->body_kernel && n_threads > 1) t.body_pool = std::make_unique<rd_pool>(n_threads, rd_body_spin_us());
    const int32_t ggml_threads = t.one_thread ? 1 : n_threads;
    t.invariant = m->batch_invariant;
    t.flash = t.invariant || p.flash_attn != 0;
    llama_context_params cp = llama_context_default_params();
    cp.n_ctx = (uint32_t) n_ctx;
    cp.n_batch = cp.n_ubatch = (uint32_t) n_batch;
    cp.n_seq_max = (uint32_t) n_seq;
    cp.n_threads = cp.n_threads_batch = ggml_threads;
    cp.embeddings = true;                  // hidden states of every output, with the logits
    cp.pooling_type = LLAMA_POOLING_TYPE_NONE;
    cp.kv_unified = true;                  // one cache shared by the beams: tree attention
    cp.swa_full = true;                    // sliding-window caches must be able to roll back
    cp.flash_attn_type = t.invariant ? LLAMA_FLASH_ATTN_TYPE_ENABLED : (llama_flash_attn_type) p.flash_attn;
    cp.type_k = cp.type_v = p.kv_f32 ? GGML_TYPE_F32 : GGML_TYPE_F16;
    // Batch invariance: ggml's CPU flash attention runs each query over the cells in order, one
    // query at a time, except with K and V of one type, where 64+ queries take a tiled kernel and
    // a lone query's cells are split across the threads once there are 512: both round apart.
    // One chain per step keeps trees under 64 nodes, and one thread splits nothing, so f16/f16
    // serves one thread; more threads need a V type of its own: bf16 (measured 1-4% slower per
    // tree decode, for its conversion). Without flash attention, batched KQ and KQV go to
    // llamafile's sgemm, which rounds apart from the one-token dot products.
    if (t.invariant) {
        cp.type_k = GGML_TYPE_F16;
        cp.type_v = ggml_threads == 1 ? GGML_TYPE_F16 : GGML_TYPE_BF16;
    }
    cp.abort_callback = abort_cb;
    cp.abort_callback_data = &t;
    cp.cb_eval = eval_cb;
    cp.cb_eval_user_data = &t;
    cp.no_perf = true;
    rd_body_scope body(t.one_thread, t.body_pool.get(), t.body_attention, t.body_packs); // the scheduler's graphs are reserved here (body_kernel.h)
    t.ctx = llama_init_from_model(m->lm, cp);
    if (!t.ctx) return rd_fail(RD_ERR_NO_MEMORY, "llama.cpp could not create a context of %d tokens", n_ctx);
    if (t.one_thread) t.ggml_pool.attach(t.ctx);
    t.n_ctx = (int32_t) llama_n_ctx(t.ctx);
    t.n_batch = (int32_t) llama_n_batch(t.ctx);
    t.batch = llama_batch_init(t.n_batch, 0, n_seq);
    return RD_OK;
}

uint32_t session_target_all_seqs(const session_target & t) { return t.n_seq >= 32 ? 0xFFFFFFFFu : (1u << t.n_seq) - 1u; }

void session_target_add(session_target & t, int32_t tok, int32_t pos, uint32_t seqs, bool logits) {
    llama_batch & b = t.batch;
    const int32_t i = b.n_tokens++;
    b.token[i] = tok;
    b.pos[i] = pos;
    int32_t n = 0;
    for (uint32_t m = seqs; m; m &= m - 1) b.seq_id[i][n++] = __builtin_ctz(m); // ascending: the
    b.n_seq_id[i] = n;  // first seq id decides the token's attention mask, any beam through it works
    b.logits[i] = logits;
}

rd_status session_target_decode(session_target & t) {
    rd_log_cancel_scope quiet_cancel(&t.cancel);
    rd_body_scope body(t.one_thread, t.body_pool.get(), t.body_attention, t.body_packs);
    const int32_t rc = llama_decode(t.ctx, t.batch);
    if (rc == 0) return RD_OK;
    if (rc == 2 || t.cancel.load()) return rd_fail(RD_ERR_CANCELLED, "cancelled");
    return rd_fail(RD_ERR_DECODE, "llama_decode failed (code %d)", rc);
}
