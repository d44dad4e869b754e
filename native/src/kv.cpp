// kv.cpp - KV-cache bookkeeping after verification. Tree cells are tagged with the seq ids of
// the beams through them (kv_unified), so dropping the rejected branches is: keep one beam b*
// that contains the accepted path, cut it after the path, then re-tag the path with every
// other beam's seq id so the next tree can attach to it from any beam. Also the test hook
// rd_session_kv_cells, which checks that no stale branch survived.
#include "session.h"

#include <cstring>

void rd_kv_compact(rd_session * s, int32_t last) {
    const rd_tree & t = s->tree;
    if (t.n <= 1) return; // plain step: the root is the only new cell and it is kept
    llama_memory_t mem = llama_get_memory(s->target.ctx);
    const int32_t b = __builtin_ctz(t.seqs[last]); // lowest beam through the last accepted node
    const llama_pos end = s->n_past + t.depth[last] + 1;
    llama_memory_seq_keep(mem, b);
    llama_memory_seq_rm(mem, b, end, -1);
    for (int32_t q = 0; q < s->target.n_seq; q++)
        if (q != b) llama_memory_seq_cp(mem, b, q, -1, -1);
}

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
    const int32_t n0 = seq_cells(s->target.ctx, 0);
    for (int32_t q = 1; q < s->target.n_seq; q++)
        if (seq_cells(s->target.ctx, q) != n0) return -1;
    return n0;
} catch (...) { rd_caught(__func__); return -1; }
