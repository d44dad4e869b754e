// head_kernel_q6k.cpp - the Q6_K half of the output-layer kernel (head_kernel.h): the columns'
// Q8_K activations and the scalar reference every Q6_K SIMD kernel must equal bit for bit.
#include "head_kernel_impl.h"

#include <algorithm>
#include <cmath>
#include <cstring>

static constexpr int32_t QK = 256; // values per super-block

// ggml's quantize_row_q8_K_ref, which x86's quantize_row_q8_K is: the scale from the value of
// largest magnitude (the first one on a tie), ggml's nearest_int (round half to even, as
// nearbyint in the default rounding mode), and the sub-block sums, here as the -32 x sum that
// starts each sub-block's isum. A block holding NaN or infinity gets a NaN scale, so that
// column's logits come out NaN instead of silently finite.
void rd_hk_quantize_q8_k(const float * x, int32_t d, int8_t * qx, float * dx, int32_t * corr) {
    for (int32_t b = 0; b < d / QK; b++, x += QK, qx += QK) {
        float amax = 0.0f, max = 0.0f;
        bool finite = true;
        for (int32_t k = 0; k < QK; k++) {
            finite = finite && std::isfinite(x[k]);
            const float ax = std::fabs(x[k]);
            if (ax > amax) amax = ax, max = x[k];
        }
        if (!finite || amax == 0.0f) {
            memset(qx, 0, QK);
            dx[b] = finite ? 0.0f : NAN;
            std::fill(corr + 16 * b, corr + 16 * (b + 1), 0);
            continue;
        }
        const float iscale = -127.0f / max;
        for (int32_t k = 0; k < QK; k++) qx[k] = (int8_t) std::min(127.0f, std::nearbyint(iscale * x[k]));
        dx[b] = 1.0f / iscale;
        for (int32_t j = 0; j < 16; j++) {
            int32_t sum = 0;
            for (int32_t k = 0; k < 16; k++) sum += qx[16 * j + k];
            corr[16 * b + j] = -32 * sum;
        }
    }
}

// The 256 quants of a super-block in value order (0..63, the 6-bit q before the -32): value
// 128 h + 32 s + l (h = half, s = 0..3, l = 0..31) has its low 4 bits in ql[64 h + 32 (s & 1) + l]
// (low nibble for s < 2, high for s >= 2) and its high 2 bits at bit 2 s of qh[32 h + l].
static void unpack(const uint8_t * blk, uint8_t * q) {
    for (int32_t h = 0; h < 2; h++)
        for (int32_t s = 0; s < 4; s++)
            for (int32_t l = 0; l < 32; l++) {
                const int32_t lo = (blk[64 * h + 32 * (s & 1) + l] >> (4 * (s >> 1))) & 0x0F;
                const int32_t hi = (blk[RD_HK_Q6K_QH + 32 * h + l] >> (2 * s)) & 3;
                q[128 * h + 32 * s + l] = (uint8_t) (lo | (hi << 4));
            }
}

void rd_hk_rows_q6_k(const rd_hk_job & j, int32_t r0, int32_t r1) {
    const rd_hk_matrix & w = *j.w;
    uint8_t q[QK];
    rd_hk_rows_int(j, r0, r1, RD_HK_Q6K_BYTES, [&](const uint8_t * blk, int32_t b, int32_t * isum) {
        const int8_t * sc = reinterpret_cast<const int8_t *>(blk + RD_HK_Q6K_SC);
        unpack(blk, q);
        for (int32_t c = 0; c < j.K; c++) {
            const int8_t * qx = j.qx + (size_t) c * w.d + (size_t) b * QK;
            const int32_t * corr = j.corr + ((size_t) c * w.nb + b) * 16;
            isum[c] = 0;
            for (int32_t s = 0; s < 16; s++) {
                int32_t sub = corr[s]; // the -32 of every quant, at once
                for (int32_t k = 0; k < 16; k++) sub += (int32_t) q[16 * s + k] * (int32_t) qx[16 * s + k];
                isum[c] += (int32_t) sc[s] * sub;
            }
        }
        return rd_fp16_at(blk + RD_HK_Q6K_D);
    });
}
