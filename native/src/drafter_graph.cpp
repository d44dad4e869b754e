// drafter_graph.cpp - the drafter's forward pass as ggml graph pieces (Apple's ReDrafter,
// arXiv 2403.09919): the recurrent state update and the head over [h ; s]. Inference
// (drafter_beam.cpp) and training build the same graph; only ops with a ggml backward are used
// (hence ggml_set over a repeat instead of ggml_concat, which has none).
// Shape legend: d = target hidden, e = head width, V' = draft vocab, n = columns.
#include "drafter_graph.h"

std::vector<drafter_tensor_spec> drafter_tensor_specs(const drafter_hparams & hp, drafter_weights * w) {
    const int64_t d = hp.n_embd, e = hp.n_head();
    auto slot = [w](ggml_tensor * drafter_weights::* member) { return w ? &(w->*member) : nullptr; };
    std::vector<drafter_tensor_spec> specs;
    specs.push_back({"rnn.w", d, d, true, slot(&drafter_weights::rnn_w)});
    specs.push_back({"rnn.u", d, d, true, slot(&drafter_weights::rnn_u)});
    specs.push_back({"rnn.b", d, 1, false, slot(&drafter_weights::rnn_b)});
    if (hp.n_proj > 0) specs.push_back({"proj.w", 2 * d, e, true, slot(&drafter_weights::proj_w)});
    for (int32_t i = 0; i < hp.n_layers; i++) {
        const std::string blk = "blk." + std::to_string(i);
        specs.push_back({blk + ".w", e, e, true, w ? &w->blk_w[i] : nullptr});
        specs.push_back({blk + ".b", e, 1, false, w ? &w->blk_b[i] : nullptr});
    }
    specs.push_back({"lm_head.w", e, hp.n_draft_vocab, true, slot(&drafter_weights::lm_head)});
    return specs;
}

ggml_tensor * drafter_build_rnn(ggml_context * ctx, const drafter_weights & w,
                                ggml_tensor * emb, ggml_tensor * s_prev) {
    ggml_tensor * x = ggml_mul_mat(ctx, w.rnn_w, emb);                     // [d, n]
    if (s_prev) x = ggml_add(ctx, x, ggml_mul_mat(ctx, w.rnn_u, s_prev));  // U s_0 = 0: skipped
    x = ggml_add(ctx, x, w.rnn_b);                                         // b broadcast over n
    return ggml_silu(ctx, x);
}

ggml_tensor * drafter_build_head(ggml_context * ctx, const drafter_hparams & hp,
                                 const drafter_weights & w, ggml_tensor * h, ggml_tensor * s) {
    return ggml_mul_mat(ctx, w.lm_head, drafter_build_head_input(ctx, hp, w, h, s)); // [V', n]
}

ggml_tensor * drafter_build_head_input(ggml_context * ctx, const drafter_hparams & hp,
                                       const drafter_weights & w, ggml_tensor * h, ggml_tensor * s) {
    const int64_t d = hp.n_embd, n = s->ne[1];
    // z = [h ; s]: tile h into both halves of a [2d, n] tensor, then overwrite the lower half
    // with s. Both ops differentiate (the trainer needs dL/ds), and h [d, 1] broadcasts for free.
    ggml_tensor * hh = ggml_repeat_4d(ctx, h, 2 * d, n, 1, 1);
    ggml_tensor * z  = ggml_set(ctx, hh, s, hh->nb[1], hh->nb[2], hh->nb[3], d * ggml_element_size(hh));
    if (w.proj_w) z = ggml_mul_mat(ctx, w.proj_w, z);                      // [e, n]
    for (int32_t i = 0; i < hp.n_layers; i++) {
        ggml_tensor * a = ggml_add(ctx, ggml_mul_mat(ctx, w.blk_w[i], z), w.blk_b[i]);
        z = ggml_add(ctx, z, ggml_silu(ctx, a));                            // z + SiLU(A z + a)
    }
    return z;                                                              // [e, n]
}
