// head_kernel_f16.cpp - the F16 part of the output-layer kernel (head_kernel.h): the scalar
// reference every F16 SIMD kernel must equal bit for bit (the activations, rounded to fp16 as
// ggml's CPU backend rounds them for its F16 dot product, are head_kernel.cpp's).
#include "head_kernel_impl.h"

#include <cmath>
#include <cstring>

// head_kernel.h's fixed tree over the 16 lane sums.
static float tree16(const float * a) {
    float s8[8], s4[4];
    for (int i = 0; i < 8; i++) s8[i] = a[i] + a[i + 8];
    for (int i = 0; i < 4; i++) s4[i] = s8[i] + s8[i + 4];
    return (s4[0] + s4[2]) + (s4[1] + s4[3]);
}

void rd_hk_rows_f16(const rd_hk_job & j, int32_t r0, int32_t r1) {
    const rd_hk_matrix & w = *j.w;
    for (int32_t r = r0; r < r1; r++) {
        const uint8_t * row = w.q + (size_t) r * w.row_bytes;
        for (int32_t c = 0; c < j.K; c++) {
            const float * x = j.xh + (size_t) c * w.d;
            float a[16] = {};
            for (int32_t k = 0; k < w.d; k++) {
                ggml_fp16_t h;
                memcpy(&h, row + 2 * (size_t) k, 2);
                a[k % 16] = std::fma(ggml_fp16_to_fp32(h), x[k], a[k % 16]);
            }
            j.y[(size_t) c * w.V + r] = tree16(a);
        }
    }
}
