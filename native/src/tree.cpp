// tree.cpp - builds the prefix tree that one llama_decode verifies (see tree.h).
#include "tree.h"

#include <algorithm>

int32_t rd_tree_child(const rd_tree & t, int32_t n, int32_t tok) {
    // children sit after their parent, in creation and in breadth-first order; N <= RD_MAX_TREE
    // (273), so a scan is cheapest
    for (int32_t i = n + 1; i < t.n; i++)
        if (t.parent[i] == n && t.token[i] == tok) return i;
    return -1;
}

// Insert one beam of len tokens for sequence seq. A node is created after its parent, so its
// index is higher also before the breadth-first sort and rd_tree_child finds it.
static void insert(rd_tree & c, const int32_t * beam, int32_t len, int32_t seq) {
    int32_t cur = 0;
    for (int32_t k = 0; k < len; k++) {
        const int32_t tok = beam[k];
        int32_t next = rd_tree_child(c, cur, tok);
        if (next < 0) {
            next = c.n++;
            c.token[next] = tok; c.parent[next] = cur; c.depth[next] = k + 1; c.seqs[next] = 0;
        }
        c.seqs[next] |= 1u << seq;
        cur = next;
    }
}

void rd_tree_build(rd_tree & t, int32_t g, const int32_t * beams, int32_t B, int32_t L, uint32_t root_seqs,
                   const int32_t * copy, int32_t n_copy, int32_t copy_seq) {
    // 1. insert the beams in order, then the copy
    rd_tree c;
    c.n = 1;
    c.token[0] = g; c.parent[0] = -1; c.depth[0] = 0; c.seqs[0] = root_seqs;
    for (int32_t b = 0; b < B; b++) insert(c, beams + b * L, L, b);
    if (n_copy > 0) insert(c, copy, n_copy, copy_seq);
    // 2. stable counting sort by depth -> breadth-first order, parents remapped
    int32_t where[RD_MAX_TREE];
    t.n = 0;
    for (int32_t d = 0; d <= std::max(L, n_copy); d++)
        for (int32_t i = 0; i < c.n; i++)
            if (c.depth[i] == d) where[i] = t.n++;
    for (int32_t i = 0; i < c.n; i++) {
        const int32_t j = where[i];
        t.token[j] = c.token[i];
        t.parent[j] = c.parent[i] < 0 ? -1 : where[c.parent[i]];
        t.depth[j] = c.depth[i];
        t.seqs[j] = c.seqs[i];
    }
}
