// attn-stream - attn_kernel.h's attention as a decode meets it: SmolLM2's shape (9 heads over 3 KV
// heads of 64, 30 layers, each with its own f16 cache of P cells), K = 1..8 queries of a chain (query
// i sees the P cells and the tree cells up to its own), the caches pushed out of L1/L2 before every
// decode by a 16 MB write, as the layers' weights push them. One thread, all of a decode's units in
// one call per layer, best of the repeats; prints microseconds per decode and per query.
// Usage: attn-stream [P cells, default 150] [repeats, default 20]
// A benchmark for changes to attn_kernel.cpp, not a test (a benchmark asserts nothing).
#include "attn_kernel.h"

#include "ggml.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

static double now_us() {
    return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

int main(int argc, char ** argv) {
    const int32_t P = argc > 1 ? std::max(1, atoi(argv[1])) : 150;
    const int32_t reps = argc > 2 ? std::max(1, atoi(argv[2])) : 20;
    constexpr int32_t layers = 30, n_head = 9, n_head_kv = 3, D = 64, max_q = 8;
    const int32_t n_kv = (P + max_q + 255) / 256 * 256; // llama.cpp pads the cells it shows the graph
    const size_t row = (size_t) n_head_kv * D;           // f16 values per cell, all KV heads
    std::mt19937 rng(1);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    std::vector<ggml_fp16_t> kv((size_t) layers * 2 * n_kv * row);
    for (ggml_fp16_t & x : kv) x = ggml_fp32_to_fp16(nd(rng));
    std::vector<float> q((size_t) max_q * n_head * D), out((size_t) max_q * n_head * D);
    for (float & x : q) x = nd(rng) * 0.125f;
    std::vector<ggml_fp16_t> mask((size_t) max_q * n_kv);
    for (int32_t i = 0; i < max_q; i++)
        for (int32_t c = 0; c < n_kv; c++) mask[(size_t) i * n_kv + c] = ggml_fp32_to_fp16(c < P + i + 1 ? 0.0f : -INFINITY);
    std::vector<char> flush((size_t) 16 << 20);
    rd_attn_scratch sc;
    double first = 0;
    for (int32_t K = 1; K <= max_q; K++) {
        double best = 1e30;
        for (int32_t r = 0; r < reps; r++) {
            for (size_t i = 0; i < flush.size(); i += 64) flush[i]++;
            const double t0 = now_us();
            for (int32_t l = 0; l < layers; l++) {
                const char * k = reinterpret_cast<const char *>(kv.data() + (size_t) (2 * l) * n_kv * row);
                const char * v = reinterpret_cast<const char *>(kv.data() + (size_t) (2 * l + 1) * n_kv * row);
                const rd_attn_job j = {reinterpret_cast<const char *>(q.data()), n_head * D * sizeof(float), D * sizeof(float),
                                       k, row * 2, D * 2, v, row * 2, D * 2,
                                       reinterpret_cast<const char *>(mask.data()), (size_t) n_kv * 2,
                                       reinterpret_cast<char *>(out.data()), D * sizeof(float), n_head * D * sizeof(float),
                                       D, D, K, n_head, n_head_kv, n_kv, 0.125f};
                rd_attn_units(j, 0, K * n_head, sc);
            }
            best = std::min(best, now_us() - t0);
        }
        if (K == 1) first = best;
        printf("attention: %d layers, %d cells, %d quer%s: %.1f us per decode, +%.1f us per query after the first\n",
               layers, P, K, K == 1 ? "y" : "ies", best, K > 1 ? (best - first) / (K - 1) : 0.0);
    }
    return (int) (out[0] != out[0]); // keep the work
}
