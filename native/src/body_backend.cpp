// body_backend.cpp - body_kernel.h's kernel and attn_kernel.h's attention offered to
// llama.cpp as a ggml backend, the way ggml's BLAS backend offers BLAS: an ACCEL device that
// computes only MUL_MAT on Q4_1 (and, with packed copies and AVX-512 VNNI, Q5_0, Q4_K, Q6_K)
// weights held in ordinary host (CPU) buffers and FLASH_ATTN_EXT on an f16 cache. llama.cpp puts
// every ACCEL backend before the CPU one, and ggml's scheduler gives an op to the first backend
// that takes its inputs' buffer type and the op, so these ops run here and everything else stays
// on ggml-cpu, with no copies (the buffers are host memory for both).
// Every batch size comes here, one token included, so plain decoding and verification run the
// same arithmetic (batch invariance).
//
// Registered once per process by rd_backend_init (util.cpp), before any model is loaded: ggml's
// device list is global, so every llama context made afterwards gets one of these backends. It
// takes ops only inside an rd_body_scope(true) on the calling thread (body_kernel.h): contexts
// whose ggml graph runs on one thread, the sessions' (session_target.cpp: a Q4_1 model's at any
// thread count, with the session's pool and the attention; other models' at one thread, their
// Q4_1 products if any, the attention left to ggml) and the load-time invariance check's
// (model.cpp, the same choice). Other contexts (ggml on more threads, embeddings,
// distillation) see a backend that supports nothing, and ggml's scheduler leaves all to ggml-cpu.
#include "attn_kernel.h"
#include "body_kernel.h"
#include "thread_pool.h"

#include "ggml-backend-impl.h"
#include "ggml-backend.h"
#include "ggml.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>
#include <vector>

namespace {

struct body_ctx { // one per llama context; its decodes run on the caller's thread and its pool
    rd_bk_scratch      scratch;
    std::vector<rd_attn_scratch> attn; // the attention's buffers, one per thread
};

rd_hk_isa g_isa = rd_hk_isa::scalar; // set once by rd_body_backend_register
thread_local bool t_on = false;      // rd_body_scope
thread_local bool t_attn = false;    // its attention flag
thread_local rd_pool * t_pool = nullptr; // its threads (null: the caller's alone)
thread_local rd_bk_packs * t_packs = nullptr; // its model's packed copies (null: weights in place)
std::atomic<uint64_t> g_products{0};
constexpr int32_t RD_BK_SPLIT = 8; // rows per unit of a product split across a pool: the AVX-512 group
                                   // in place (RD_BK_PACK_ROWS on a packed copy)

const char * NAME = "RD-Q4_1";

bool supports_mul_mat(const ggml_tensor * op) {
    const ggml_tensor * w = op->src[0];
    const ggml_tensor * x = op->src[1];
    int32_t hint;
    memcpy(&hint, reinterpret_cast<const char *>(op->op_params) + sizeof(int32_t), sizeof hint);
    rd_bk_type type;
    if (!rd_bk_takes(w->type, t_packs != nullptr, g_isa, &type)) return false;
    if (type != rd_bk_type::q4_1 && w->ne[1] % RD_BK_PACK_ROWS != 0) return false; // packed rows only: whole groups
    return ggml_is_contiguous(w) && w->ne[2] == 1 && w->ne[3] == 1 &&
           w->ne[0] % RD_BK_QK == 0 && w->ne[1] <= INT32_MAX && x->type == GGML_TYPE_F32 &&
           x->nb[0] == sizeof(float) && x->ne[2] == 1 && x->ne[3] == 1 && x->ne[1] <= INT32_MAX &&
           op->type == GGML_TYPE_F32 && op->nb[0] == sizeof(float) && hint != GGML_HINT_SRC0_IS_HADAMARD;
}

// ggml_flash_attn_ext as llama.cpp builds it on an f16 cache, without ALiBi, softcap or sinks.
bool supports_attn(const ggml_tensor * op) {
    const ggml_tensor * q = op->src[0], * k = op->src[1], * v = op->src[2], * mask = op->src[3];
    float max_bias, softcap;
    memcpy(&max_bias, reinterpret_cast<const float *>(op->op_params) + 1, sizeof(float));
    memcpy(&softcap, reinterpret_cast<const float *>(op->op_params) + 2, sizeof(float));
    if (!q || !k || !v || op->src[4] || max_bias != 0.0f || softcap != 0.0f) return false;
    if (q->type != GGML_TYPE_F32 || k->type != GGML_TYPE_F16 || v->type != GGML_TYPE_F16 || op->type != GGML_TYPE_F32)
        return false;
    if (q->nb[0] != sizeof(float) || k->nb[0] != 2 || v->nb[0] != 2 || op->nb[0] != sizeof(float)) return false;
    if (q->ne[3] != 1 || k->ne[3] != 1 || v->ne[3] != 1 || op->ne[3] != 1) return false;
    if (!rd_attn_dims_ok((int32_t) k->ne[0], (int32_t) v->ne[0]) || q->ne[0] != k->ne[0]) return false;
    if (k->ne[1] != v->ne[1] || k->ne[2] != v->ne[2] || q->ne[2] % k->ne[2] != 0) return false;
    if (op->ne[0] != v->ne[0] || op->ne[1] != q->ne[2] || op->ne[2] != q->ne[1]) return false;
    if (q->ne[1] * q->ne[2] > INT32_MAX || k->ne[1] > INT32_MAX) return false;
    if (mask && (mask->type != GGML_TYPE_F16 || mask->nb[0] != 2 || mask->ne[0] < k->ne[1] || mask->ne[1] < q->ne[1] ||
                 mask->ne[2] != 1 || mask->ne[3] != 1))
        return false;
    return true;
}

struct attn_call {
    rd_attn_job       job;
    rd_attn_scratch * scratch; // one per part
    rd_chunks         work;    // of units, in runs of the heads that share a KV head where they fit
};

void attention(body_ctx & ctx, ggml_tensor * dst) {
    const ggml_tensor * q = dst->src[0], * k = dst->src[1], * v = dst->src[2], * mask = dst->src[3];
    float scale;
    memcpy(&scale, dst->op_params, sizeof scale);
    const rd_attn_job job = {static_cast<const char *>(q->data), q->nb[1], q->nb[2],
                             static_cast<const char *>(k->data), k->nb[1], k->nb[2],
                             static_cast<const char *>(v->data), v->nb[1], v->nb[2],
                             mask ? static_cast<const char *>(mask->data) : nullptr, mask ? mask->nb[1] : 0,
                             static_cast<char *>(dst->data), dst->nb[1], dst->nb[2],
                             (int32_t) k->ne[0], (int32_t) v->ne[0], (int32_t) q->ne[1], (int32_t) q->ne[2],
                             (int32_t) k->ne[2], (int32_t) k->ne[1], scale};
    const int32_t units = job.n_q * job.n_head;
    const int32_t parts = t_pool ? t_pool->size() : 1;
    if (ctx.attn.size() < (size_t) parts) ctx.attn.resize((size_t) parts);
    if (parts == 1) {
        rd_attn_units(job, 0, units, ctx.attn[0]);
        return;
    }
    attn_call a{job, ctx.attn.data(), rd_chunks(units, std::min(job.n_head / job.n_head_kv, RD_ATTN_HEADS), parts)};
    t_pool->run([](void * arg, int32_t i, int32_t) {
        attn_call & c = *static_cast<attn_call *>(arg);
        c.work.take([&](int32_t u0, int32_t u1) { rd_attn_units(c.job, u0, u1, c.scratch[i]); });
    }, &a);
}

struct mul_mat_call {
    rd_bk_job job;
    rd_chunks work; // of rows, whole groups of RD_BK_SPLIT
};

void mul_mat(body_ctx & ctx, ggml_tensor * dst) {
    const ggml_tensor * w = dst->src[0];
    const ggml_tensor * x = dst->src[1];
    const int32_t d = (int32_t) w->ne[0], K = (int32_t) x->ne[1];
    rd_bk_quantize(static_cast<const float *>(x->data), x->nb[1] / sizeof(float), K, d, ctx.scratch);
    rd_bk_job job{static_cast<const uint8_t *>(w->data), w->nb[1], (int32_t) w->ne[1], d / RD_BK_QK, K,
                  &ctx.scratch, static_cast<float *>(dst->data), dst->nb[1] / sizeof(float)};
    rd_bk_takes(w->type, true, g_isa, &job.type); // supports_mul_mat took it
    if (t_packs) job.P = t_packs->get(job.W, job.row_bytes, job.V, job.nb, job.type);
    const int32_t split = job.P ? RD_BK_PACK_ROWS : RD_BK_SPLIT;
    if (!t_pool || t_pool->size() == 1 || job.V < 2 * split) {
        rd_bk_rows(job, 0, job.V, g_isa);
    } else {
        mul_mat_call m{job, rd_chunks(job.V, split, t_pool->size())};
        t_pool->run([](void * arg, int32_t, int32_t) {
            mul_mat_call & c = *static_cast<mul_mat_call *>(arg);
            c.work.take([&](int32_t r0, int32_t r1) { rd_bk_rows(c.job, r0, r1, g_isa); });
        }, &m);
    }
    g_products.fetch_add(1, std::memory_order_relaxed);
}

// ---- backend (stream) ----

const char * backend_name(ggml_backend_t) { return NAME; }

void backend_free(ggml_backend_t b) {
    delete static_cast<body_ctx *>(b->context);
    delete b;
}

ggml_status graph_compute(ggml_backend_t b, ggml_cgraph * g) try {
    body_ctx & ctx = *static_cast<body_ctx *>(b->context);
    for (int i = 0; i < ggml_graph_n_nodes(g); i++) {
        ggml_tensor * node = ggml_graph_node(g, i);
        if ((node->flags & GGML_TENSOR_FLAG_COMPUTE) == 0) continue;
        switch (node->op) {
        case GGML_OP_MUL_MAT: mul_mat(ctx, node); break;
        case GGML_OP_FLASH_ATTN_EXT: attention(ctx, node); break;
        case GGML_OP_NONE:
        case GGML_OP_RESHAPE:
        case GGML_OP_VIEW:
        case GGML_OP_PERMUTE:
        case GGML_OP_TRANSPOSE: break;
        default: return GGML_STATUS_FAILED; // supports_op took nothing else
        }
    }
    return GGML_STATUS_SUCCESS;
} catch (...) { // the scratch could not grow: the decode fails, the process stays up
    return GGML_STATUS_ALLOC_FAILED;
}

const ggml_backend_i BACKEND_I = {
    backend_name, backend_free,
    nullptr, nullptr, nullptr, nullptr, nullptr, // tensor copies: host memory, none async
    nullptr,                                     // synchronize
    nullptr, nullptr, nullptr, nullptr,          // graph plans
    graph_compute,
    nullptr, nullptr, // events
    nullptr,          // graph_optimize
};

ggml_guid_t guid() {
    static ggml_guid g = {0x72, 0x64, 0x2d, 0x71, 0x34, 0x5f, 0x31, 0x2d, 0x62, 0x6f, 0x64, 0x79, 0x2d, 0x6b, 0x72, 0x6e};
    return &g;
}

// ---- device ----

const char * dev_name(ggml_backend_dev_t) { return NAME; }
const char * dev_description(ggml_backend_dev_t) { return "redrafter's batch-invariant Q4_1 / Q5_0 / Q4_K / Q6_K matrix products"; }
void dev_memory(ggml_backend_dev_t, size_t * free, size_t * total) { *free = *total = 0; }
enum ggml_backend_dev_type dev_type(ggml_backend_dev_t) { return GGML_BACKEND_DEVICE_TYPE_ACCEL; }

void dev_props(ggml_backend_dev_t dev, ggml_backend_dev_props * p) {
    p->name = dev_name(dev);
    p->description = dev_description(dev);
    p->memory_free = p->memory_total = 0;
    p->type = GGML_BACKEND_DEVICE_TYPE_ACCEL;
    p->device_id = nullptr;
    p->caps = {/* async */ false, /* host_buffer */ false, /* buffer_from_host_ptr */ true,
               /* events */ false, /* mmap_support */ true};
}

ggml_backend_reg_t reg();

ggml_backend_t dev_init(ggml_backend_dev_t dev, const char *) {
    auto * ctx = new (std::nothrow) body_ctx;
    if (!ctx) return nullptr;
    auto * b = new (std::nothrow) ggml_backend{guid(), BACKEND_I, dev, ctx};
    if (!b) delete ctx;
    return b;
}

ggml_backend_buffer_type_t dev_buffer_type(ggml_backend_dev_t) { return ggml_backend_cpu_buffer_type(); }

ggml_backend_buffer_t dev_buffer_from_ptr(ggml_backend_dev_t, void * ptr, size_t size, size_t) {
    return ggml_backend_cpu_buffer_from_ptr(ptr, size);
}

bool dev_supports_op(ggml_backend_dev_t, const ggml_tensor * op) {
    if (!t_on) return false;
    switch (op->op) {
    case GGML_OP_NONE:
    case GGML_OP_RESHAPE:
    case GGML_OP_VIEW:
    case GGML_OP_PERMUTE:
    case GGML_OP_TRANSPOSE: return true;
    case GGML_OP_MUL_MAT: return supports_mul_mat(op);
    case GGML_OP_FLASH_ATTN_EXT: return t_attn && supports_attn(op);
    default: return false;
    }
}

bool dev_supports_buft(ggml_backend_dev_t, ggml_backend_buffer_type_t buft) { return ggml_backend_buft_is_host(buft); }

const ggml_backend_device_i DEVICE_I = {
    dev_name, dev_description, dev_memory, dev_type, dev_props, dev_init, dev_buffer_type,
    nullptr, // host buffer type
    dev_buffer_from_ptr, dev_supports_op, dev_supports_buft,
    nullptr,                   // offload_op
    nullptr, nullptr, nullptr, // events
};

// ---- registry ----

const char * reg_name(ggml_backend_reg_t) { return NAME; }
size_t reg_device_count(ggml_backend_reg_t) { return 1; }

ggml_backend_dev_t reg_device(ggml_backend_reg_t r, size_t i) {
    static ggml_backend_device dev = {DEVICE_I, r, nullptr};
    return i == 0 ? &dev : nullptr;
}

void * reg_proc(ggml_backend_reg_t, const char *) { return nullptr; }

const ggml_backend_reg_i REG_I = {reg_name, reg_device_count, reg_device, reg_proc};

ggml_backend_reg_t reg() {
    static ggml_backend_reg r = {GGML_BACKEND_API_VERSION, REG_I, nullptr};
    return &r;
}

} // namespace

uint64_t rd_body_products() { return g_products.load(); }

int32_t rd_body_spin_us() {
    const char * env = getenv("RD_BODY_SPIN_US");
    return env && *env ? atoi(env) : 200;
}

rd_body_scope::rd_body_scope(bool on, rd_pool * pool, bool attention, rd_bk_packs * packs)
    : prev_(t_on), prev_attn_(t_attn), prev_pool_(t_pool), prev_packs_(t_packs) {
    t_on = on;
    t_attn = on && attention;
    t_pool = pool;
    t_packs = packs;
}
rd_body_scope::~rd_body_scope() {
    t_on = prev_;
    t_attn = prev_attn_;
    t_pool = prev_pool_;
    t_packs = prev_packs_;
}

bool rd_body_backend_register() {
    static const bool registered = [] {
        const char * env = getenv("RD_BODY_KERNEL");
        if (env && strcmp(env, "0") == 0) return false;
        g_isa = rd_hk_best_isa();
        if (g_isa != rd_hk_isa::avx2 && g_isa != rd_hk_isa::avx2_vnni && g_isa != rd_hk_isa::avx512_vnni) return false;
        ggml_backend_register(reg());
        return true;
    }();
    return registered;
}
