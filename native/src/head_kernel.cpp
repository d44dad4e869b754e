// head_kernel.cpp - the output-layer kernel (head_kernel.h): preparing the matrix, choosing the
// instruction set, splitting the rows over threads, and for Q8_0 the activations and the scalar
// reference. Q6_K's and F16's are in head_kernel_q6k.cpp and head_kernel_f16.cpp; the SIMD
// kernels in head_kernel_x86*.cpp and head_kernel_arm.cpp.
#include "head_kernel_impl.h"
#include "thread_pool.h"

#include "ggml.h"

#include <algorithm>
#include <cmath>
#include <cstring>

static constexpr int32_t QK = 32;           // values per Q8_0 block
static constexpr size_t  BLOCK_BYTES = 34;  // fp16 scale + 32 int8

// Values per block and the block's bytes, for the types the kernel takes (0, 0 for others).
static void block_shape(ggml_type type, int32_t * qk, size_t * bytes) {
    switch (type) {
    case GGML_TYPE_Q8_0: *qk = QK, *bytes = BLOCK_BYTES; return;
    case GGML_TYPE_Q6_K: *qk = 256, *bytes = RD_HK_Q6K_BYTES; return;
    case GGML_TYPE_F16: *qk = 16, *bytes = 32; return;
    default: *qk = 0, *bytes = 0; return;
    }
}

bool rd_hk_prepare(rd_hk_matrix & w, ggml_type type, const void * data, int32_t V, int32_t d) {
    int32_t qk;
    size_t bytes;
    block_shape(type, &qk, &bytes);
    if (qk == 0 || V < 1 || d < qk || d % qk != 0) return false;
    w.type = type;
    w.q = static_cast<const uint8_t *>(data);
    w.V = V;
    w.d = d;
    w.nb = d / qk;
    w.row_bytes = (size_t) w.nb * bytes;
    w.scales.clear();
    if (type != GGML_TYPE_Q8_0) return true;
    const int32_t G = V / RD_HK_GROUP;
    w.scales.resize((size_t) G * (size_t) w.nb * RD_HK_GROUP);
    for (int32_t g = 0; g < G; g++)
        for (int32_t i = 0; i < RD_HK_GROUP; i++) {
            const uint8_t * row = w.q + (size_t) (g * RD_HK_GROUP + i) * w.row_bytes;
            for (int32_t b = 0; b < w.nb; b++)
                memcpy(&w.scales[((size_t) g * w.nb + b) * RD_HK_GROUP + i], row + (size_t) b * BLOCK_BYTES, 2);
        }
    return true;
}

// ggml's x86 quantize_row_q8_0 for one block: the same scale, reciprocal and rounding (its
// _mm256_round_ps to nearest even = nearbyint in the default rounding mode). A block holding
// NaN or infinity gets a NaN scale, so that column's logits come out NaN instead of silently
// finite.
static void quantize_block(const float * v, int8_t * q, float * dx) {
    float amax = 0.0f;
    bool finite = true;
    for (int32_t k = 0; k < QK; k++) {
        finite = finite && std::isfinite(v[k]);
        amax = std::max(amax, std::fabs(v[k]));
    }
    if (!finite) {
        memset(q, 0, QK);
        *dx = NAN;
        return;
    }
    *dx = ggml_fp16_to_fp32(ggml_fp32_to_fp16(amax / 127.0f));
    const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    for (int32_t k = 0; k < QK; k++) q[k] = (int8_t) std::nearbyint(v[k] * id);
}

// The x86 kernels' per-block activation shapes (head_kernel_impl.h, RD_HK_PAT).
static void block_pattern(const int8_t * q, uint8_t * pat) {
    for (int32_t j = 0; j < 4; j++)
        for (int32_t l = 0; l < 4; l++) {
            memcpy(pat + 32 * j + 4 * l, q + 4 * j, 4);
            memcpy(pat + 32 * j + 16 + 4 * l, q + 16 + 4 * j, 4);
        }
    int32_t lo = 0, hi = 0;
    for (int32_t k = 0; k < 16; k++) lo += q[k], hi += q[16 + k];
    int32_t corr[8];
    for (int32_t l = 0; l < 4; l++) corr[l] = -128 * lo, corr[4 + l] = -128 * hi;
    memcpy(pat + RD_HK_CORR, corr, sizeof corr);
}

void rd_hk_rows_q8_0(const rd_hk_job & j, int32_t r0, int32_t r1) {
    const rd_hk_matrix & w = *j.w;
    rd_hk_rows_int(j, r0, r1, BLOCK_BYTES, [&](const uint8_t * blk, int32_t b, int32_t * isum) {
        const int8_t * qw = reinterpret_cast<const int8_t *>(blk + 2);
        for (int32_t c = 0; c < j.K; c++) {
            const int8_t * qx = j.qx + (size_t) c * w.d + (size_t) b * QK;
            isum[c] = 0;
            for (int32_t k = 0; k < QK; k++) isum[c] += (int32_t) qw[k] * (int32_t) qx[k];
        }
        return rd_fp16_at(blk);
    });
}

bool rd_hk_isa_supported(rd_hk_isa isa) {
    return isa == rd_hk_isa::scalar || rd_hk_x86_supported(isa) || rd_hk_arm_supported(isa);
}

bool rd_hk_type_supported(ggml_type type, rd_hk_isa isa) {
    int32_t qk;
    size_t bytes;
    block_shape(type, &qk, &bytes);
    if (qk == 0) return false;
    return isa == rd_hk_isa::scalar || rd_hk_x86_kernel(type, isa, 1) || rd_hk_arm_kernel(type, isa, 1);
}

rd_hk_isa rd_hk_best_isa() {
    static const rd_hk_isa best = [] {
        for (rd_hk_isa isa : {rd_hk_isa::avx512_vnni, rd_hk_isa::avx2_vnni, rd_hk_isa::avx2, rd_hk_isa::neon_dot,
                              rd_hk_isa::neon})
            if (rd_hk_isa_supported(isa)) return isa;
        return rd_hk_isa::scalar;
    }();
    return best;
}

const char * rd_hk_isa_name(rd_hk_isa isa) {
    switch (isa) {
    case rd_hk_isa::scalar: return "scalar";
    case rd_hk_isa::avx2: return "avx2";
    case rd_hk_isa::avx2_vnni: return "avx2_vnni";
    case rd_hk_isa::avx512_vnni: return "avx512_vnni";
    case rd_hk_isa::neon: return "neon";
    case rd_hk_isa::neon_dot: return "neon_dot";
    }
    return "?";
}

namespace {
struct part_args {
    const rd_hk_job * job;
    rd_hk_groups_fn   groups; // null: scalar rows throughout
    void (*rows)(const rd_hk_job &, int32_t, int32_t); // the type's scalar reference
    rd_chunks         work;   // of rows, whole groups of RD_HK_GROUP (the last chunk also the tail)
};
} // namespace

// A pool's part: the rows of the chunks it takes, whole groups by the kernel and the rows after
// the last group by the reference. Every row is computed alone, so the bits do not depend on who
// takes which chunk.
static void run_part(void * arg, int32_t, int32_t) {
    part_args & a = *static_cast<part_args *>(arg);
    const rd_hk_job & j = *a.job;
    a.work.take([&](int32_t r0, int32_t r1) {
        const int32_t g0 = r0 / RD_HK_GROUP, g1 = r1 / RD_HK_GROUP;
        if (a.groups) a.groups(j, g0, g1);
        else a.rows(j, g0 * RD_HK_GROUP, g1 * RD_HK_GROUP);
        if (g1 * RD_HK_GROUP < r1) a.rows(j, g1 * RD_HK_GROUP, r1);
    });
}

void rd_hk_matmul(const rd_hk_matrix & w, const float * x, int32_t K, float * y, rd_hk_scratch & s,
                  rd_pool * pool, rd_hk_isa isa) {
    const size_t d = (size_t) w.d, nb = (size_t) w.nb;
    rd_hk_groups_fn groups = rd_hk_x86_kernel(w.type, isa, K);
    if (!groups) groups = rd_hk_arm_kernel(w.type, isa, K);
    rd_hk_job job = {&w, K, nullptr, nullptr, nullptr, nullptr, nullptr, y};
    part_args args{&job, groups, rd_hk_rows_q8_0, rd_chunks(w.V, RD_HK_GROUP, pool ? pool->size() : 1)};
    if (w.type == GGML_TYPE_F16) {
        s.xh.resize((size_t) K * d);
        for (size_t i = 0; i < (size_t) K * d; i++) s.xh[i] = ggml_fp16_to_fp32(ggml_fp32_to_fp16(x[i]));
        job.xh = s.xh.data();
        args.rows = rd_hk_rows_f16;
    } else {
        s.qx.resize((size_t) K * d);
        s.dx.resize((size_t) K * nb);
        job.qx = s.qx.data();
        job.dx = s.dx.data();
        if (w.type == GGML_TYPE_Q6_K) {
            s.corr.resize((size_t) K * nb * 16);
            for (size_t c = 0; c < (size_t) K; c++)
                rd_hk_quantize_q8_k(x + c * d, w.d, &s.qx[c * d], &s.dx[c * nb], &s.corr[c * nb * 16]);
            job.corr = s.corr.data();
            args.rows = rd_hk_rows_q6_k;
        } else {
            const bool x86 = isa == rd_hk_isa::avx2 || isa == rd_hk_isa::avx2_vnni || isa == rd_hk_isa::avx512_vnni;
            if (x86) s.pat.resize((size_t) K * nb * RD_HK_PAT);
            for (size_t c = 0; c < (size_t) K; c++)
                for (size_t b = 0; b < nb; b++) {
                    int8_t * q = &s.qx[c * d + b * QK];
                    quantize_block(x + c * d + b * QK, q, &s.dx[c * nb + b]);
                    if (x86) block_pattern(q, &s.pat[(c * nb + b) * RD_HK_PAT]);
                }
            job.pat = x86 ? s.pat.data() : nullptr;
        }
    }
    if (pool) pool->run(run_part, &args);
    else run_part(&args, 0, 1);
}
