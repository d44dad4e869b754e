// util.cpp - per-thread last error, version, backend loading and threads, log control.
#include "internal.h"

#include <algorithm>
#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <mutex>
#include <thread>

static thread_local std::string g_last_error;
static std::atomic<bool> g_quiet{false};

rd_status rd_fail(rd_status st, const char * fmt, ...) {
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    g_last_error = buf;
    return st;
}

const char * rd_last_error(void) { return g_last_error.c_str(); }

const char * rd_version(void) { return "0.1.0 (llama.cpp v0.4.0 via node-llama-cpp 3.21.1)"; }

static void log_cb(enum ggml_log_level level, const char * text, void *) {
    if (g_quiet.load(std::memory_order_relaxed) && level != GGML_LOG_LEVEL_ERROR) return;
    fputs(text, stderr);
}

void rd_log_set_quiet(bool quiet) {
    g_quiet.store(quiet);
    llama_log_set(log_cb, nullptr);
}

rd_status rd_backend_init(const char * dir) {
    static std::once_flag once;
    std::call_once(once, [dir] {
        llama_log_set(log_cb, nullptr);
        if (dir) ggml_backend_load_all_from_path(dir);
        else ggml_backend_load_all();
        llama_backend_init();
    });
    if (ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU) == nullptr)
        return rd_fail(RD_ERR_BACKEND, "no ggml CPU backend could be loaded from %s", dir ? dir : "(executable folder)");
    return RD_OK;
}

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
