// tree.h - dynamic tree attention: B draft beams merged into one prefix tree rooted at the
// last sampled token g, so every shared prefix is verified once. Nodes are stored
// breadth-first (llama.cpp needs positions non-decreasing within a sequence).
#pragma once

#include "redrafter.h"

#include <cstdint>

constexpr int32_t RD_MAX_TREE = 1 + (RD_MAX_BEAMS + 1) * RD_MAX_BEAM_LENGTH; // + the copy beam

struct rd_tree {
    int32_t  n = 0;                  // N nodes; node 0 is the root g
    int32_t  token[RD_MAX_TREE];     // target token id
    int32_t  parent[RD_MAX_TREE];    // -1 for the root
    int32_t  depth[RD_MAX_TREE];     // 0 for the root; position = n_past + depth
    uint32_t seqs[RD_MAX_TREE];      // bit b set = beam b (llama seq id b) passes through
};

// Merge beams (B*L ids, beam b at beams[b*L..], sequence b) and the copy beam (n_copy ids,
// sequence copy_seq; none when n_copy = 0) under root token g. root_seqs is the mask of every
// sequence the session keeps (the root belongs to all of them).
void rd_tree_build(rd_tree & t, int32_t g, const int32_t * beams, int32_t B, int32_t L, uint32_t root_seqs,
                   const int32_t * copy = nullptr, int32_t n_copy = 0, int32_t copy_seq = 0);

// Child of node n carrying token tok, or -1.
int32_t rd_tree_child(const rd_tree & t, int32_t n, int32_t tok);
