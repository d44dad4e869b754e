// drafter_host.h - the drafter's forward step on the host, for a CPU drafter whose matrices the
// head kernel takes (F16 or Q8_0 in host memory: every shipped drafter): the same arithmetic as
// drafter_graph.cpp's graph, with each product on the head kernel over the session's pool and
// the element-wise ops in plain loops. The graph path costs ggml's graph launch and, above one
// thread, ggml's thread start-up per search for products of a few hundred rows.
//
// Shape legend: d = target hidden, e = head width, V' = draft vocab, n = columns (beams).
#pragma once

#include "drafter_graph.h"
#include "head_kernel.h"

#include <memory>
#include <vector>

class rd_pool;

struct drafter_host {
    rd_hk_isa    isa = rd_hk_isa::scalar;
    rd_hk_matrix rnn_w, rnn_u, proj, head;    // proj unused without a projection
    rd_hk_matrix blk[RD_DRAFTER_MAX_LAYERS];
    const float * rnn_b = nullptr;
    const float * blk_b[RD_DRAFTER_MAX_LAYERS] = {};
    rd_hk_scratch hk;
    std::vector<float> t0, t1, z, a;          // scratch: [d, n], [d, n], [max(2d, e), n] x 2
};

// Whether t is a matrix the head kernel reads in place with isa (host memory, contiguous, a type
// it takes, whole blocks per row); prepares m from it. The host path below and the graph path's
// LM head (drafter_beam.cpp) both ask this.
bool drafter_kernel_matrix(const ggml_tensor * t, rd_hk_isa isa, rd_hk_matrix & m);

// The host path for d's weights, or null when some weight is not in host memory or not of a
// type (and row length) the kernel takes with this CPU's best instruction set, or when
// $RD_DRAFTER_HOST is 0 (the graph path, for comparisons).
std::unique_ptr<drafter_host> drafter_host_prepare(const rd_drafter & d);

// One step for n columns: s_out [d, n] = SiLU(W emb + U s_prev + b) (s_prev null: the zero
// state, U skipped), then logits [V', n] of the head over [h ; s_out] (h: d floats, shared by
// the columns). pool may be null.
void drafter_host_step(drafter_host & w, const drafter_hparams & hp, int32_t n, const float * emb,
                       const float * s_prev, const float * h, float * s_out, float * logits, rd_pool * pool);
