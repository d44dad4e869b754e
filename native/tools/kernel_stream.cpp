// kernel-stream - the body and head kernels reading their weights from memory, as decoding does:
// N packed Q4_1 matrices of SmolLM2's FFN shape (1536 x 576) by 1, 2, 4 and 8 columns, then a
// Q8_0 head of 49152 x 576 (SmolLM2's) by 1, 2 and 4 columns after a 320 MB write that pushes it
// out of the caches. One thread, random weights, best of the repeats; prints ms and GB/s.
// Usage: kernel-stream [N matrices, default 200 (110 MB)] [repeats, default 8]
// Used for the prefetch figures in docs/distill.md; not a test (a benchmark asserts nothing).
#include "body_kernel.h"
#include "head_kernel.h"
#include "ggml.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

static double now_ms() {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

static std::vector<float> random_floats(size_t n, std::mt19937 & rng) {
    std::normal_distribution<float> nd(0.0f, 0.05f);
    std::vector<float> v(n);
    for (float & x : v) x = nd(rng);
    return v;
}

int main(int argc, char ** argv) {
    const int32_t n_mat = argc > 1 ? std::max(1, atoi(argv[1])) : 200;
    const int32_t reps = argc > 2 ? std::max(1, atoi(argv[2])) : 8;
    const rd_hk_isa isa = rd_hk_best_isa();
    std::mt19937 rng(1);
    printf("isa %s\n", rd_hk_isa_name(isa));

    // body: one Q4_1 matrix, packed into n_mat separate copies so the loop streams them all
    const int32_t V = 1536, d = 576, nb = d / RD_BK_QK;
    const size_t row_bytes = (size_t) nb * RD_BK_BLOCK_BYTES, packed = rd_bk_packed_bytes(V, nb);
    const std::vector<float> wf = random_floats((size_t) V * d, rng);
    std::vector<uint8_t> w((size_t) V * row_bytes);
    ggml_quantize_chunk(GGML_TYPE_Q4_1, wf.data(), w.data(), 0, V, d, nullptr);
    std::vector<uint8_t> store((size_t) n_mat * packed + 64);
    uint8_t * base = store.data() + ((64 - ((uintptr_t) store.data() & 63)) & 63); // 64-byte aligned
    for (int32_t i = 0; i < n_mat; i++) rd_bk_pack(w.data(), row_bytes, V, nb, base + (size_t) i * packed);
    const std::vector<float> x = random_floats((size_t) 8 * d, rng);
    std::vector<float> y((size_t) 8 * V);
    for (int32_t K : {1, 2, 4, 8}) {
        rd_bk_scratch s;
        rd_bk_quantize(x.data(), (size_t) d, K, d, s);
        double best = 1e30;
        for (int32_t r = 0; r < reps; r++) {
            const double t0 = now_ms();
            for (int32_t i = 0; i < n_mat; i++) {
                rd_bk_job j{w.data(), row_bytes, V, nb, K, &s, y.data(), (size_t) V, base + (size_t) i * packed};
                rd_bk_rows(j, 0, V, isa);
            }
            best = std::min(best, now_ms() - t0);
        }
        printf("body: %d packed Q4_1 matrices %dx%d, %d column(s): %.3f ms (%.1f GB/s)\n", n_mat, V, d, K, best,
               (double) n_mat * (double) packed / best / 1e6);
    }

    // head: Q8_0, flushed from the caches before every call
    const int32_t HV = 49152;
    const std::vector<float> hf = random_floats((size_t) HV * d, rng);
    std::vector<uint8_t> hq((size_t) HV * (size_t) (nb * 34));
    ggml_quantize_chunk(GGML_TYPE_Q8_0, hf.data(), hq.data(), 0, HV, d, nullptr);
    rd_hk_matrix m;
    if (!rd_hk_prepare(m, GGML_TYPE_Q8_0, hq.data(), HV, d)) return 1;
    std::vector<float> flush((size_t) 80 << 20), hy((size_t) 4 * HV);
    for (int32_t K : {1, 2, 4}) {
        rd_hk_scratch s;
        double best = 1e30;
        for (int32_t r = 0; r < reps; r++) {
            for (size_t i = 0; i < flush.size(); i += 16) flush[i] += 1.0f;
            const double t0 = now_ms();
            rd_hk_matmul(m, x.data(), K, hy.data(), s, nullptr, isa);
            best = std::min(best, now_ms() - t0);
        }
        printf("head: Q8_0 %dx%d from memory, %d column(s): %.3f ms (%.1f GB/s)\n", HV, d, K, best,
               (double) hq.size() / best / 1e6);
    }
    return 0;
}
