// thread_pool.h - a small persistent pool for the session's own kernels (the LM head): run(fn)
// calls fn(i, n) for i = 0..n-1, part 0 on the caller's thread and the others on workers created
// once, so a call costs two condition-variable hand-offs instead of n thread creations. Workers
// sleep between calls (no spinning: the machine is often shared with llama.cpp's own threads).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

class rd_pool {
  public:
    explicit rd_pool(int32_t n_threads); // n_threads >= 1 parts per call (n_threads - 1 workers)
    ~rd_pool();
    rd_pool(const rd_pool &) = delete;
    rd_pool & operator=(const rd_pool &) = delete;

    int32_t size() const { return n_; }
    // Call fn(i, size()) for every part i and return when all have returned. fn must not throw.
    void run(void (*fn)(void * arg, int32_t i, int32_t n), void * arg);

  private:
    void worker(int32_t i);

    int32_t                  n_ = 1;
    std::vector<std::thread> threads_;
    std::mutex               mu_;
    std::condition_variable  start_, done_;
    uint64_t                 gen_ = 0;     // bumped by run(): a new job for the workers
    int32_t                  pending_ = 0; // workers still running the current job
    bool                     stop_ = false;
    void (*fn_)(void *, int32_t, int32_t) = nullptr;
    void *                   arg_ = nullptr;
};
