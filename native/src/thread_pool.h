// thread_pool.h - a small persistent pool for our own kernels (the LM head, the Q4_1 body
// kernel): run(fn) calls fn(i, n) for i = 0..n-1, part 0 on the caller's thread and the others on
// workers created once. The body kernel calls run() for every matrix product of a decode (~200 per
// token, a few tens of microseconds apart), so hand-offs spin first: a worker polls for the next
// job for up to RD_POOL_SPIN_US before it sleeps on a condition variable, and run() polls for the
// workers' end the same way. A pool idle for longer costs no CPU (the machine is often shared).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

constexpr int64_t RD_POOL_SPIN_US = 100;

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
    std::atomic<uint64_t>    gen_{0};     // bumped by run() (under mu_): a new job for the workers
    std::atomic<int32_t>     pending_{0}; // workers still running the current job
    std::atomic<bool>        stop_{false};
    void (*fn_)(void *, int32_t, int32_t) = nullptr;
    void *                   arg_ = nullptr;
};
