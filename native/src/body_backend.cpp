// body_backend.cpp - body_kernel.h's Q4_1 kernel offered to llama.cpp as a ggml backend, the way
// ggml's BLAS backend offers BLAS: an ACCEL device that computes only MUL_MAT on Q4_1 weights
// held in ordinary host (CPU) buffers. llama.cpp puts every ACCEL backend before the CPU one, and
// ggml's scheduler gives an op with weights to the first backend that takes the weights' buffer
// type and the op, so these products run here and everything else stays on ggml-cpu, with no
// copies (the buffers are host memory for both). Every batch size comes here, one token included,
// so plain decoding and verification run the same arithmetic (batch invariance).
//
// Registered once per process by rd_backend_init (util.cpp), before any model is loaded: ggml's
// device list is global, so every llama context made afterwards gets one of these backends. It
// takes products only inside an rd_body_scope(true) on the calling thread (body_kernel.h): the
// one-thread contexts of sessions (session_target.cpp) and of the load-time invariance check
// (model.cpp). Other contexts (more threads, embeddings, distillation) see a backend that
// supports nothing, and ggml's scheduler leaves everything to ggml-cpu.
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

namespace {

struct body_ctx { // one per llama context; its decodes run one thread, the caller's
    rd_bk_scratch scratch;
};

rd_hk_isa g_isa = rd_hk_isa::scalar; // set once by rd_body_backend_register
thread_local bool t_on = false;      // rd_body_scope
thread_local rd_pool * t_pool = nullptr; // its threads (null: the caller's alone)
std::atomic<uint64_t> g_products{0};
constexpr int32_t RD_BK_SPLIT = 8; // rows per unit of a product split across a pool: the AVX-512 group

const char * NAME = "RD-Q4_1";

bool supports_mul_mat(const ggml_tensor * op) {
    const ggml_tensor * w = op->src[0];
    const ggml_tensor * x = op->src[1];
    int32_t hint;
    memcpy(&hint, reinterpret_cast<const char *>(op->op_params) + sizeof(int32_t), sizeof hint);
    return w->type == GGML_TYPE_Q4_1 && ggml_is_contiguous(w) && w->ne[2] == 1 && w->ne[3] == 1 &&
           w->ne[0] % RD_BK_QK == 0 && w->ne[1] <= INT32_MAX && x->type == GGML_TYPE_F32 &&
           x->nb[0] == sizeof(float) && x->ne[2] == 1 && x->ne[3] == 1 && x->ne[1] <= INT32_MAX &&
           op->type == GGML_TYPE_F32 && op->nb[0] == sizeof(float) && hint != GGML_HINT_SRC0_IS_HADAMARD;
}

void mul_mat(body_ctx & ctx, ggml_tensor * dst) {
    const ggml_tensor * w = dst->src[0];
    const ggml_tensor * x = dst->src[1];
    const int32_t d = (int32_t) w->ne[0], K = (int32_t) x->ne[1];
    rd_bk_quantize(static_cast<const float *>(x->data), x->nb[1] / sizeof(float), K, d, ctx.scratch);
    const rd_bk_job job{static_cast<const uint8_t *>(w->data), w->nb[1], (int32_t) w->ne[1], d / RD_BK_QK, K,
                        &ctx.scratch, static_cast<float *>(dst->data), dst->nb[1] / sizeof(float)};
    if (!t_pool || t_pool->size() == 1 || job.V < 2 * RD_BK_SPLIT) {
        rd_bk_rows(job, 0, job.V, g_isa);
    } else { // each part takes whole groups of RD_BK_SPLIT rows: the same bits whatever the split
        t_pool->run([](void * arg, int32_t i, int32_t n) {
            const rd_bk_job & j = *static_cast<const rd_bk_job *>(arg);
            const int32_t groups = (j.V + RD_BK_SPLIT - 1) / RD_BK_SPLIT;
            const int32_t r0 = std::min(j.V, groups * i / n * RD_BK_SPLIT);
            const int32_t r1 = std::min(j.V, groups * (i + 1) / n * RD_BK_SPLIT);
            rd_bk_rows(j, r0, r1, g_isa);
        }, const_cast<rd_bk_job *>(&job));
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
const char * dev_description(ggml_backend_dev_t) { return "redrafter's batch-invariant Q4_1 matrix products"; }
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

rd_body_scope::rd_body_scope(bool on, rd_pool * pool) : prev_(t_on), prev_pool_(t_pool) {
    t_on = on;
    t_pool = pool;
}
rd_body_scope::~rd_body_scope() {
    t_on = prev_;
    t_pool = prev_pool_;
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
