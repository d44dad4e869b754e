// body_kernel.cpp - the Q4_1 body kernel (body_kernel.h): the activations and the scalar
// reference every SIMD path must equal bit for bit.
#include "body_kernel.h"

#include "ggml.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

#if defined(__linux__)
#include <sys/mman.h>
#include <unistd.h>
#endif

static void size_scratch(int32_t K, int32_t d, rd_bk_scratch & s) {
    const int32_t nb = d / RD_BK_QK;
    s.qx.resize((size_t) K * d);
    s.dx.resize((size_t) K * nb);
    s.sx.resize((size_t) K * nb);
    s.pat.resize((size_t) K * nb * RD_BK_PAT);
}

void rd_bk_quantize(const float * x, size_t x_stride, int32_t K, int32_t d, rd_bk_scratch & s) {
    static const bool simd = rd_hk_isa_supported(rd_hk_isa::avx2);
    size_scratch(K, d, s);
    if (!simd || !rd_bk_quantize_x86(x, x_stride, K, d, s)) rd_bk_quantize_ref(x, x_stride, K, d, s);
}

void rd_bk_quantize_ref(const float * x, size_t x_stride, int32_t K, int32_t d, rd_bk_scratch & s) {
    const int32_t nb = d / RD_BK_QK;
    size_scratch(K, d, s);
    for (int32_t c = 0; c < K; c++)
        for (int32_t b = 0; b < nb; b++) {
            const float * v = x + (size_t) c * x_stride + (size_t) b * RD_BK_QK;
            int8_t * q = s.qx.data() + (size_t) c * d + (size_t) b * RD_BK_QK;
            float amax = 0.0f;
            bool finite = true;
            for (int32_t k = 0; k < RD_BK_QK; k++) {
                finite = finite && std::isfinite(v[k]);
                amax = std::max(amax, std::fabs(v[k]));
            }
            float & dx = s.dx[(size_t) c * nb + b];
            float & sx = s.sx[(size_t) c * nb + b];
            if (!finite) {
                memset(q, 0, RD_BK_QK);
                dx = sx = NAN;
                continue;
            }
            const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
            int32_t sum = 0;
            for (int32_t k = 0; k < RD_BK_QK; k++) {
                q[k] = (int8_t) std::nearbyint(v[k] * id);
                sum += q[k];
            }
            dx = amax / 127.0f;
            sx = dx * (float) sum;
        }
    // Pattern j of a block (j < 4): x's dword j (values 4j..4j+3) four times, then dword 4 + j four
    // times, the shape of 4 rows' quants after the in-lane transpose (body_kernel_x86.cpp).
    for (size_t cb = 0; cb < (size_t) K * nb; cb++) {
        const int8_t * q = s.qx.data() + cb * RD_BK_QK;
        uint8_t * p = s.pat.data() + cb * RD_BK_PAT;
        for (int32_t j = 0; j < 4; j++)
            for (int32_t h = 0; h < 2; h++)
                for (int32_t l = 0; l < 4; l++) memcpy(p + j * 32 + h * 16 + l * 4, q + (4 * h + j) * 4, 4);
    }
}

static void rows_scalar(const rd_bk_job & j, int32_t r0, int32_t r1) {
    const int32_t d = j.nb * RD_BK_QK;
    for (int32_t r = r0; r < r1; r++) {
        const uint8_t * row = j.W + (size_t) r * j.row_bytes;
        for (int32_t c = 0; c < j.K; c++) {
            const int8_t * qx = j.s->qx.data() + (size_t) c * d;
            const float * dx = j.s->dx.data() + (size_t) c * j.nb;
            const float * sx = j.s->sx.data() + (size_t) c * j.nb;
            float a = 0.0f, m = 0.0f;
            for (int32_t b = 0; b < j.nb; b++) {
                const uint8_t * blk = row + (size_t) b * RD_BK_BLOCK_BYTES;
                const int8_t * xb = qx + (size_t) b * RD_BK_QK;
                int32_t isum = 0;
                for (int32_t k = 0; k < 16; k++) isum += (blk[4 + k] & 0x0F) * xb[k] + (blk[4 + k] >> 4) * xb[16 + k];
                a = std::fma(rd_fp16_at(blk) * dx[b], (float) isum, a);
                m = std::fma(rd_fp16_at(blk + 2), sx[b], m);
            }
            j.y[(size_t) c * j.y_stride + r] = a + m;
        }
    }
}

size_t rd_bk_packed_bytes(int32_t V, int32_t nb) {
    return (size_t) (V / RD_BK_PACK_ROWS) * (size_t) nb * RD_BK_PACK_BLOCK;
}

void rd_bk_pack(const uint8_t * W, size_t row_bytes, int32_t V, int32_t nb, uint8_t * out) {
    for (int32_t g = 0; g < V / RD_BK_PACK_ROWS; g++)
        for (int32_t b = 0; b < nb; b++) {
            uint8_t * dst = out + ((size_t) g * nb + b) * RD_BK_PACK_BLOCK;
            for (int32_t i = 0; i < RD_BK_PACK_ROWS; i++) {
                const uint8_t * blk = W + (size_t) (g * RD_BK_PACK_ROWS + i) * row_bytes + (size_t) b * RD_BK_BLOCK_BYTES;
                for (int32_t u = 0; u < 4; u++) memcpy(dst + 64 * u + 4 * i, blk + 4 + 4 * u, 4);
                memcpy(dst + 256 + 2 * i, blk, 2);     // dw
                memcpy(dst + 288 + 2 * i, blk + 2, 2); // mw
            }
        }
}

void rd_bk_packs::freer::operator()(uint8_t * p) const { free(p); }

// The whole pages of [p, p + n) may leave this process's memory: a hint (MADV_PAGEOUT, Linux 5.4+)
// that keeps their contents. The packed copy replaces those rows, so a model's Q4_1 layers do not
// sit in memory twice where llama.cpp mapped them from the file (file-backed pages are dropped
// and read again if ggml ever touches them; anonymous ones stay where there is no swap).
static void release_pages(const uint8_t * p, size_t n) {
#if defined(__linux__) && defined(MADV_PAGEOUT)
    const long sz = sysconf(_SC_PAGESIZE);
    if (sz <= 0) return;
    const uintptr_t page = (uintptr_t) sz, a = ((uintptr_t) p + page - 1) / page * page, b = ((uintptr_t) p + n) / page * page;
    if (b > a) madvise(reinterpret_cast<void *>(a), b - a, MADV_PAGEOUT); // a hint: failure changes nothing
#else
    (void) p, (void) n;
#endif
}

const uint8_t * rd_bk_packs::get(const uint8_t * W, size_t row_bytes, int32_t V, int32_t nb) {
    const size_t n = rd_bk_packed_bytes(V, nb);
    if (n == 0) return nullptr;
    std::lock_guard<std::mutex> lock(mu_);
    auto it = copies_.find(W);
    if (it != copies_.end()) return it->second.get();
    // 64-byte aligned: every block (320 bytes) starts a cache line
    std::unique_ptr<uint8_t[], freer> p(static_cast<uint8_t *>(aligned_alloc(64, (n + 63) / 64 * 64)));
    if (!p) { // no memory: this matrix stays in place, and the next call does not try again
        copies_.emplace(W, nullptr);
        return nullptr;
    }
    rd_bk_pack(W, row_bytes, V, nb, p.get());
    const uint8_t * packed = copies_.emplace(W, std::move(p)).first->second.get();
    release_pages(W, (size_t) (V / RD_BK_PACK_ROWS * RD_BK_PACK_ROWS) * row_bytes); // rows past the copy stay
    return packed;
}

void rd_bk_rows(const rd_bk_job & j, int32_t r0, int32_t r1, rd_hk_isa isa) {
    // The SIMD kernels take whole groups of RD_BK_ROWS rows from r0; the rest is the reference's.
    const int32_t r_simd = r0 + (r1 - r0) / RD_BK_ROWS * RD_BK_ROWS;
    if (isa == rd_hk_isa::scalar || !rd_hk_isa_supported(isa) || !rd_bk_rows_x86(j, r0, r_simd, isa))
        return rows_scalar(j, r0, r1);
    rows_scalar(j, r_simd, r1);
}
