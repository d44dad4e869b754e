// kv.cpp - KV-cache bookkeeping after verification. Tree cells are tagged with the seq ids of
// the beams through them (kv_unified), so dropping the rejected branches is: keep one beam b*
// that contains the accepted path, cut it after the path, then re-tag the path with every
// other beam's seq id so the next tree can attach to it from any beam.
#include "session.h"

void rd_kv_compact(rd_session * s, int32_t last) {
    const rd_tree & t = s->tree;
    if (t.n <= 1) return; // plain step: the root is the only new cell and it is kept
    llama_memory_t mem = llama_get_memory(s->ctx);
    const int32_t b = __builtin_ctz(t.seqs[last]); // lowest beam through the last accepted node
    const llama_pos end = s->n_past + t.depth[last] + 1;
    llama_memory_seq_keep(mem, b);
    llama_memory_seq_rm(mem, b, end, -1);
    for (int32_t q = 0; q < s->n_seq; q++)
        if (q != b) llama_memory_seq_cp(mem, b, q, -1, -1);
}
