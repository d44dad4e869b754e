// body_kernel.cpp - the body kernel (body_kernel.h): the activations and the scalar
// reference every SIMD path must equal bit for bit.
#include "body_kernel.h"

#include "ggml.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#include <unistd.h>
#endif

static void size_scratch(int32_t K, int32_t d, rd_bk_scratch & s) {
    const int32_t nb = d / RD_BK_QK;
    s.qx.resize((size_t) K * d);
    s.dx.resize((size_t) K * nb);
    s.sx.resize((size_t) K * nb);
    s.hs.resize((size_t) K * nb * 2);
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
                s.hs[((size_t) c * nb + b) * 2] = s.hs[((size_t) c * nb + b) * 2 + 1] = 0;
                continue;
            }
            const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
            int32_t sum = 0, * hs = s.hs.data() + ((size_t) c * nb + b) * 2;
            hs[0] = hs[1] = 0;
            for (int32_t k = 0; k < RD_BK_QK; k++) {
                q[k] = (int8_t) std::nearbyint(v[k] * id);
                sum += q[k];
                hs[k / 16] += q[k];
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

size_t rd_bk_block_bytes(rd_bk_type type) {
    switch (type) {
    case rd_bk_type::q5_0: return RD_BK_Q5_BYTES;
    case rd_bk_type::q4_k: return RD_BK_Q4K_BYTES;
    case rd_bk_type::q6_k: return RD_BK_Q6K_BYTES;
    default: return RD_BK_BLOCK_BYTES;
    }
}

bool rd_bk_takes(ggml_type t, bool packed, rd_hk_isa isa, rd_bk_type * out) {
    rd_bk_type type;
    switch (t) {
    case GGML_TYPE_Q4_1: type = rd_bk_type::q4_1; break;
    case GGML_TYPE_Q5_0: type = rd_bk_type::q5_0; break;
    case GGML_TYPE_Q4_K: type = rd_bk_type::q4_k; break;
    case GGML_TYPE_Q6_K: type = rd_bk_type::q6_k; break;
    default: return false;
    }
    if (type != rd_bk_type::q4_1 && !(packed && isa == rd_hk_isa::avx512_vnni)) return false;
    if (out) *out = type;
    return true;
}

size_t rd_bk_pack_block_bytes(rd_bk_type type) {
    switch (type) {
    case rd_bk_type::q5_0: return RD_BK_PACK_Q5;
    case rd_bk_type::q4_k: return RD_BK_PACK_Q4K;
    case rd_bk_type::q6_k: return RD_BK_PACK_Q6K;
    default: return RD_BK_PACK_BLOCK;
    }
}

namespace {

// Block b (32 values) of a row as every path reads it: nibble pairs (byte k: quant k in the low
// nibble, quant 16 + k in the high), the quants' fifth and sixth bits (bit k: quant k; else 0),
// and the block's dw and mw (body_kernel.h; Q4_K's are d * sc and -dmin * m, both exact in f32;
// Q6_K's dw and dw2 are d * sc of its two halves).
struct block32 {
    uint8_t  nib[16];
    uint32_t qh = 0, qh2 = 0;
    float    dw, mw = 0.0f, dw2 = 0.0f;
};

block32 decode(rd_bk_type type, const uint8_t * row, int32_t b) {
    block32 o;
    if (type == rd_bk_type::q6_k) { // super-block b / 8: 128 bytes of low 4 bits, 64 of high 2, 16 int8 scales, fp16 d
        const uint8_t * sb = row + (size_t) (b / 8) * RD_BK_Q6K_BYTES;
        const int32_t n = (b % 8) / 4, k = b % 4; // its half of 128 values, and block k of 4 there
        const uint8_t * ql = sb + 64 * n + 32 * (k % 2), * qh = sb + 128 + 32 * n;
        uint8_t q[32];
        for (int32_t l = 0; l < 32; l++) {
            q[l] = (uint8_t) (((ql[l] >> (4 * (k / 2))) & 0x0F) | ((qh[l] >> (2 * k)) & 3) << 4);
            o.qh |= (uint32_t) ((q[l] >> 4) & 1) << l;
            o.qh2 |= (uint32_t) (q[l] >> 5) << l;
        }
        for (int32_t l = 0; l < 16; l++) o.nib[l] = (uint8_t) ((q[l] & 0x0F) | (q[16 + l] & 0x0F) << 4);
        const int8_t * sc = reinterpret_cast<const int8_t *>(sb + 192 + 8 * n + 2 * k);
        const float d = rd_fp16_at(sb + 208);
        o.dw = d * (float) sc[0];
        o.dw2 = d * (float) sc[1];
        return o;
    }
    if (type == rd_bk_type::q4_k) { // super-block b / 8: fp16 d, fp16 dmin, 12 bytes of 6-bit scales, 128 of nibbles
        const uint8_t * sb = row + (size_t) (b / 8) * RD_BK_Q4K_BYTES, * sc = sb + 4;
        const int32_t j = b % 8;
        const uint8_t * qs = sb + 16 + 32 * (j / 2); // sub-block j: the low (j even) or high nibbles of 32 bytes
        const int shift = 4 * (j % 2);
        for (int32_t k = 0; k < 16; k++)
            o.nib[k] = (uint8_t) (((qs[k] >> shift) & 0x0F) | ((qs[16 + k] >> shift) & 0x0F) << 4);
        const int32_t scale = j < 4 ? sc[j] & 63 : (sc[j + 4] & 0x0F) | (sc[j - 4] >> 6) << 4;
        const int32_t min = j < 4 ? sc[j + 4] & 63 : (sc[j + 4] >> 4) | (sc[j] >> 6) << 4;
        o.dw = rd_fp16_at(sb) * (float) scale;
        o.mw = -(rd_fp16_at(sb + 2) * (float) min);
        return o;
    }
    const uint8_t * blk = row + (size_t) b * rd_bk_block_bytes(type);
    o.dw = rd_fp16_at(blk);
    if (type == rd_bk_type::q5_0) {
        memcpy(&o.qh, blk + 2, 4);
        memcpy(o.nib, blk + 6, 16);
        o.mw = -16.0f * o.dw;
    } else {
        memcpy(o.nib, blk + 4, 16);
        o.mw = rd_fp16_at(blk + 2);
    }
    return o;
}

void rows_scalar(const rd_bk_job & j, int32_t r0, int32_t r1) {
    if (r0 >= r1) return;
    const int32_t d = j.nb * RD_BK_QK;
    std::vector<float> a((size_t) j.K), m((size_t) j.K); // each column's two sums, in block order
    for (int32_t r = r0; r < r1; r++) {
        const uint8_t * row = j.W + (size_t) r * j.row_bytes;
        std::fill(a.begin(), a.end(), 0.0f);
        std::fill(m.begin(), m.end(), 0.0f);
        for (int32_t b = 0; b < j.nb; b++) {
            const block32 w = decode(j.type, row, b);
            for (int32_t c = 0; c < j.K; c++) {
                const size_t cb = (size_t) c * j.nb + b;
                const int8_t * xb = j.s->qx.data() + (size_t) c * d + (size_t) b * RD_BK_QK;
                int32_t isum[2] = {0, 0}; // over each half
                for (int32_t k = 0; k < 16; k++) {
                    const int32_t lo = (w.nib[k] & 0x0F) | ((w.qh >> k) & 1) << 4 | ((w.qh2 >> k) & 1) << 5;
                    const int32_t hi = (w.nib[k] >> 4) | ((w.qh >> (16 + k)) & 1) << 4 | ((w.qh2 >> (16 + k)) & 1) << 5;
                    isum[0] += lo * xb[k];
                    isum[1] += hi * xb[16 + k];
                }
                const float dx = j.s->dx[cb];
                if (j.type == rd_bk_type::q6_k) {
                    a[c] = std::fma(w.dw * dx, (float) (isum[0] - 32 * j.s->hs[2 * cb]), a[c]);
                    a[c] = std::fma(w.dw2 * dx, (float) (isum[1] - 32 * j.s->hs[2 * cb + 1]), a[c]);
                } else {
                    a[c] = std::fma(w.dw * dx, (float) (isum[0] + isum[1]), a[c]);
                    m[c] = std::fma(w.mw, j.s->sx[cb], m[c]);
                }
            }
        }
        for (int32_t c = 0; c < j.K; c++) j.y[(size_t) c * j.y_stride + r] = a[c] + m[c];
    }
}

} // namespace

size_t rd_bk_packed_bytes(int32_t V, int32_t nb, rd_bk_type type) {
    return (size_t) (V / RD_BK_PACK_ROWS) * (size_t) nb * rd_bk_pack_block_bytes(type);
}

void rd_bk_pack(const uint8_t * W, size_t row_bytes, int32_t V, int32_t nb, uint8_t * out, rd_bk_type type) {
    const size_t pb = rd_bk_pack_block_bytes(type);
    for (int32_t g = 0; g < V / RD_BK_PACK_ROWS; g++)
        for (int32_t b = 0; b < nb; b++) {
            uint8_t * dst = out + ((size_t) g * nb + b) * pb;
            uint64_t masks[16] = {0}; // Q5_0, Q6_K: the fifth bits' 8, then Q6_K's sixth bits' 8
            for (int32_t i = 0; i < RD_BK_PACK_ROWS; i++) {
                const uint8_t * row = W + (size_t) (g * RD_BK_PACK_ROWS + i) * row_bytes;
                const block32 w = decode(type, row, b);
                for (int32_t u = 0; u < 4; u++) memcpy(dst + 64 * u + 4 * i, w.nib + 4 * u, 4);
                const uint8_t * blk = row + (size_t) b * rd_bk_block_bytes(type);
                const bool high = type == rd_bk_type::q5_0 || type == rd_bk_type::q6_k; // bits past the nibbles
                for (int32_t v = 0; high && v < 8; v++)
                    for (int32_t t = 0; t < 4; t++) {
                        masks[v] |= (uint64_t) ((w.qh >> (4 * v + t)) & 1) << (4 * i + t);
                        masks[8 + v] |= (uint64_t) ((w.qh2 >> (4 * v + t)) & 1) << (4 * i + t);
                    }
                switch (type) {
                case rd_bk_type::q4_1:
                    memcpy(dst + 256 + 2 * i, blk, 2);     // fp16 dw
                    memcpy(dst + 288 + 2 * i, blk + 2, 2); // fp16 mw
                    break;
                case rd_bk_type::q5_0: memcpy(dst + 320 + 2 * i, blk, 2); break; // fp16 dw
                case rd_bk_type::q4_k:
                    memcpy(dst + 256 + 4 * i, &w.dw, 4); // f32
                    memcpy(dst + 320 + 4 * i, &w.mw, 4);
                    break;
                case rd_bk_type::q6_k:
                    memcpy(dst + 384 + 4 * i, &w.dw, 4); // f32
                    memcpy(dst + 448 + 4 * i, &w.dw2, 4);
                    break;
                }
            }
            if (type == rd_bk_type::q5_0) memcpy(dst + 256, masks, 64);  // the fifth bits' masks
            if (type == rd_bk_type::q6_k) memcpy(dst + 256, masks, 128); // and the sixth bits
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

const uint8_t * rd_bk_packs::get(const uint8_t * W, size_t row_bytes, int32_t V, int32_t nb, rd_bk_type type) {
    const size_t n = rd_bk_packed_bytes(V, nb, type);
    if (n == 0) return nullptr;
    std::lock_guard<std::mutex> lock(mu_);
    auto it = copies_.find(W);
    if (it != copies_.end()) return it->second.get();
    // 64-byte aligned: every Q4_1 block (320 bytes) starts a cache line, a Q5_0 one (352) every other
    std::unique_ptr<uint8_t[], freer> p(static_cast<uint8_t *>(aligned_alloc(64, (n + 63) / 64 * 64)));
    if (!p) { // no memory: this matrix stays in place, and the next call does not try again
        copies_.emplace(W, nullptr);
        return nullptr;
    }
    rd_bk_pack(W, row_bytes, V, nb, p.get(), type);
    const uint8_t * packed = copies_.emplace(W, std::move(p)).first->second.get();
    release_pages(W, (size_t) (V / RD_BK_PACK_ROWS * RD_BK_PACK_ROWS) * row_bytes); // rows past the copy stay
    return packed;
}

void rd_bk_rows(const rd_bk_job & j, int32_t r0, int32_t r1, rd_hk_isa isa) {
    if (j.type != rd_bk_type::q4_1) { // SIMD only on the packed copy with AVX-512 VNNI
        const bool simd = isa == rd_hk_isa::avx512_vnni && rd_hk_isa_supported(isa);
        return rows_scalar(j, simd ? rd_bk_rows_packed_x86(j, r0, r1) : r0, r1);
    }
    // The SIMD kernels take whole groups of RD_BK_ROWS rows from r0; the rest is the reference's.
    const int32_t r_simd = r0 + (r1 - r0) / RD_BK_ROWS * RD_BK_ROWS;
    if (isa == rd_hk_isa::scalar || !rd_hk_isa_supported(isa) || !rd_bk_rows_x86(j, r0, r_simd, isa))
        return rows_scalar(j, r0, r1);
    rows_scalar(j, r_simd, r1);
}
