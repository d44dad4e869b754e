// internal.h - what the native files share and the public header hides: the model struct,
// the per-thread error setter, a timer. C++ only; nothing here leaks through redrafter.h.
#pragma once

#include "redrafter.h"
#include "llama.h"
#include "ggml-backend.h"

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

// Record msg (printf-style) as this thread's last error and return st, so a failing path
// reads `return rd_fail(RD_ERR_IO, "cannot open %s", path);`.
rd_status rd_fail(rd_status st, const char * fmt, ...) __attribute__((format(printf, 2, 3)));

// No exception may cross the C API (a C or Bun caller would abort): every exported call that
// can reach llama.cpp or allocate is a function-try-block ending in
//     catch (...) { return rd_caught(__func__); }
// Only valid inside a catch handler: records what was thrown as this thread's last error, named
// by fn, and returns RD_ERR_NO_MEMORY for std::bad_alloc, else RD_ERR_INTERNAL.
rd_status rd_caught(const char * fn) noexcept;

// The hyper-parameters llama.cpp asserts on (abort) read from the file's metadata first:
// RD_ERR_FORMAT, with what is out of range, instead of a process that dies (model_check.cpp).
rd_status rd_model_check_hparams(const char * path);

// While one lives on a thread (around a session's llama_decode), error lines llama.cpp logs
// there once *cancel is set are dropped when logging is quiet (rd_log_set_quiet): they report
// the decode that rd_session_cancel() stopped, which the caller gets as RD_ERR_CANCELLED.
struct rd_log_cancel_scope {
    explicit rd_log_cancel_scope(const std::atomic<bool> * cancel);
    ~rd_log_cancel_scope();
    rd_log_cancel_scope(const rd_log_cancel_scope &) = delete;
    rd_log_cancel_scope & operator=(const rd_log_cancel_scope &) = delete;

  private:
    const std::atomic<bool> * prev;
};

// ggml-cpu's threadpool of one thread, kept for a context whose ggml graph runs on one thread
// (the body kernel's sessions and teacher): without one, ggml-cpu makes and frees a threadpool
// (two allocations, a mutex and a condition) for each graph split the body backend leaves it,
// ~240 per decode of a 30-layer model. attach() gives it to a context, which must be freed
// first (declare this after the context's owner, or free the context in the destructor body).
// Nothing happens where the CPU backend does not offer one.
struct rd_ggml_one_thread {
    rd_ggml_one_thread() = default;
    ~rd_ggml_one_thread();
    rd_ggml_one_thread(const rd_ggml_one_thread &) = delete;
    rd_ggml_one_thread & operator=(const rd_ggml_one_thread &) = delete;
    void attach(llama_context * ctx);

  private:
    ggml_threadpool_t pool = nullptr;
    void (*free_fn)(ggml_threadpool_t) = nullptr;
};

struct gguf_matrix;  // gguf_matrix.h: a weight matrix read straight from the target's GGUF
struct rd_hk_matrix; // head_kernel.h: a Q8_0 output layer prepared for the session's own head
class rd_bk_packs;   // body_kernel.h: packed copies of the weights for the body kernel

struct rd_model {
    llama_model *       lm    = nullptr;
    const llama_vocab * vocab = nullptr;
    std::string         path;          // the GGUF, reopened by gguf_matrix for weight rows
    std::string         name;          // general.name, or the file name
    int32_t             n_vocab = 0;
    int32_t             n_embd  = 0;
    uint64_t            fingerprint = 0;
    ggml_backend_dev_t  dev = nullptr; // device the drafter should run on (CPU when no offload)
    std::unique_ptr<gguf_matrix> embd; // token_embd.weight, opened at load
    // The session's own LM head (head.h): the output layer (output.weight, or the embeddings
    // when tied; null when the head cannot run on the CPU), and whether the first session's
    // check (session_head.cpp, head_check) accepted its logits.
    std::unique_ptr<gguf_matrix> output;
    const gguf_matrix * head_w = nullptr;
    std::unique_ptr<rd_hk_matrix> head_q8; // head_w prepared for the Q8_0 kernel; null for other types
    std::once_flag      head_q8_once;
    std::once_flag      head_once;
    bool                head_ok = false;
    int32_t             head_cols = 1; // columns per head call that keep the bits of one (head.h)
    double              head_cost[RD_MAX_HEAD_COLS + 1] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
                                       // [k]: time of a k-column call / of one column (k <= head_cols)
    std::string         head_why;      // why the check failed, for logs and tests
    // rd_model_params.batch_invariant, when the check at load (model.cpp) found tokens decoded
    // alone and in one batch bit-identical; else batch_why says why not
    bool                batch_invariant = false;
    std::string         batch_why;
    // Most of the layers' weight bytes are in types the body kernel takes on this CPU, and it is
    // registered (body_kernel.h, model.cpp): sessions run ggml on one thread and the products on
    // their own pool (session_target.cpp)
    bool                body_kernel = false;
    std::unique_ptr<rd_bk_packs> body_packs; // the kernel's packed copies of them (with body_kernel)
    std::vector<int32_t> eog_tokens;   // every end-of-generation id (banned by ignore_eos)
    ~rd_model();
};

// Threads when the caller passes 0: half the hardware threads (about the physical cores).
// ggml's workers spin at barriers, so oversubscribing a core costs far more than it gives:
// on a busy 2-core machine, 2 threads ran 10-1000x slower than 1.
int32_t rd_default_threads();

// Set the thread count of a CPU backend (no-op for other backends); n <= 0 = the default.
void rd_backend_set_threads(ggml_backend_t b, int32_t n_threads);

inline double rd_now_ms() {
    using namespace std::chrono;
    return duration<double, std::milli>(steady_clock::now().time_since_epoch()).count();
}
