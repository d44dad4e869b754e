// util.cpp - per-thread last error, version, backend loading and threads, log control.
#include "body_kernel.h"
#include "internal.h"

#include <algorithm>
#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <exception>
#include <mutex>
#include <new>
#include <thread>

// A fixed buffer, not a std::string: recording an error must not allocate (nor throw) when
// the error being recorded is an allocation that failed.
static thread_local char g_last_error[1024];
static std::atomic<bool> g_quiet{false};

rd_status rd_fail(rd_status st, const char * fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_last_error, sizeof g_last_error, fmt, ap);
    va_end(ap);
    return st;
}

rd_status rd_caught(const char * fn) noexcept {
    try {
        throw;
    } catch (const std::bad_alloc &) {
        return rd_fail(RD_ERR_NO_MEMORY, "%s: out of memory", fn);
    } catch (const std::exception & e) {
        return rd_fail(RD_ERR_INTERNAL, "%s: %s", fn, e.what());
    } catch (...) {
        return rd_fail(RD_ERR_INTERNAL, "%s: an unknown C++ exception", fn);
    }
}

const char * rd_last_error(void) { return g_last_error; }

// RD_VERSION_STRING: CMakeLists.txt builds it from package.json
const char * rd_version(void) { return RD_VERSION_STRING; }

// The cancel flag of the session whose llama_decode runs on this thread; null outside one.
static thread_local const std::atomic<bool> * t_decode_cancel = nullptr;

rd_log_cancel_scope::rd_log_cancel_scope(const std::atomic<bool> * cancel) : prev(t_decode_cancel) {
    t_decode_cancel = cancel;
}
rd_log_cancel_scope::~rd_log_cancel_scope() { t_decode_cancel = prev; }

// Quiet keeps errors only, and not those of a decode our own abort callback stopped: llama.cpp
// logs "failed to decode" for it as for a real failure, on the decoding thread.
static void log_cb(enum ggml_log_level level, const char * text, void *) {
    if (g_quiet.load(std::memory_order_relaxed) &&
        (level != GGML_LOG_LEVEL_ERROR || (t_decode_cancel && t_decode_cancel->load(std::memory_order_relaxed))))
        return;
    fputs(text, stderr);
}

void rd_log_set_quiet(bool quiet) {
    g_quiet.store(quiet);
    llama_log_set(log_cb, nullptr);
}

rd_status rd_backend_init(const char * dir) try {
    static std::once_flag once;
    std::call_once(once, [dir] {
        llama_log_set(log_cb, nullptr);
        if (dir) ggml_backend_load_all_from_path(dir);
        else ggml_backend_load_all();
        rd_body_backend_register(); // before any model: see body_backend.cpp
        llama_backend_init();
    });
    if (ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU) == nullptr)
        return rd_fail(RD_ERR_BACKEND, "no ggml CPU backend could be loaded from %s", dir ? dir : "(executable folder)");
    return RD_OK;
} catch (...) { return rd_caught(__func__); }

void rd_backend_set_threads(ggml_backend_t b, int32_t n_threads) {
    // Only the CPU backend has threads; it exports the setter through its registry because
    // ggml-cpu is loaded at run time (one library per CPU variant), not linked.
    ggml_backend_reg_t reg = ggml_backend_dev_backend_reg(ggml_backend_get_device(b));
    auto set = (ggml_backend_set_n_threads_t) ggml_backend_reg_get_proc_address(reg, "ggml_backend_set_n_threads");
    if (set) set(b, n_threads > 0 ? n_threads : rd_default_threads());
}

int32_t rd_default_threads() {
    return (int32_t) std::max(1u, std::thread::hardware_concurrency() / 2);
}

void rd_ggml_one_thread::attach(llama_context * ctx) {
    if (!pool) {
        ggml_backend_dev_t cpu = ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU);
        ggml_backend_reg_t reg = cpu ? ggml_backend_dev_backend_reg(cpu) : nullptr;
        if (!reg) return;
        auto * make = (ggml_threadpool_t (*)(ggml_threadpool_params *)) ggml_backend_reg_get_proc_address(reg, "ggml_threadpool_new");
        free_fn = (void (*)(ggml_threadpool_t)) ggml_backend_reg_get_proc_address(reg, "ggml_threadpool_free");
        if (!make || !free_fn) return;
        ggml_threadpool_params tp = ggml_threadpool_params_default(1);
        pool = make(&tp);
        if (!pool) return;
    }
    llama_attach_threadpool(ctx, pool, nullptr);
}

rd_ggml_one_thread::~rd_ggml_one_thread() {
    if (pool) free_fn(pool);
}
