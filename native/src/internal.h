// internal.h - what the native files share and the public header hides: the model struct,
// the per-thread error setter, a timer. C++ only; nothing here leaks through redrafter.h.
#pragma once

#include "redrafter.h"
#include "llama.h"
#include "ggml-backend.h"

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

// Record msg (printf-style) as this thread's last error and return st, so a failing path
// reads `return rd_fail(RD_ERR_IO, "cannot open %s", path);`.
rd_status rd_fail(rd_status st, const char * fmt, ...) __attribute__((format(printf, 2, 3)));

struct gguf_matrix; // gguf_matrix.h: a weight matrix read straight from the target's GGUF

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
    // when tied; null when the head cannot run on the CPU), and whether rd_head_check found its
    // logits bit-identical to llama.cpp's. Checked once, by the first session.
    std::unique_ptr<gguf_matrix> output;
    const gguf_matrix * head_w = nullptr;
    std::once_flag      head_once;
    bool                head_ok = false;
    int32_t             head_cols = 1; // columns per head call that keep the bits (head.h)
    double              head_cost[5] = {0, 1, 2, 3, 4}; // [k]: time of a k-column call / of one column (k <= head_cols)
    std::string         head_why;      // why the check failed, for logs and tests
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
