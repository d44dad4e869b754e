// thread_pool.h - a small persistent pool for the session's own kernels (the LM head, the body
// kernel and attention, the drafter's LM head): run(fn) calls fn(i, n) for i = 0..n-1, part 0 on
// the caller's thread and the others on workers created once, so a call costs a hand-off instead
// of n thread creations; run_shared(fn) is for work the parts share out among themselves.
//
// Between calls a worker spins for spin_us microseconds, then sleeps on a condition variable.
// A session whose llama.cpp context runs its own threads gets a pool that does not spin
// (spin_us 0) for its LM head, which runs a few times per step beside llama.cpp's threads. A
// Q4_1 model's session runs ggml on one thread and gets a spinning pool, shared by all of the
// above: it runs ~200 times per decode, a few microseconds of ggml's one-thread work apart, where
// a sleeping hand-off (~10-30 us) would cost as much as the products (body_kernel.h).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

class rd_pool {
  public:
    // n_threads >= 1 parts per call (n_threads - 1 workers)
    explicit rd_pool(int32_t n_threads, int32_t spin_us = 0);
    ~rd_pool();
    rd_pool(const rd_pool &) = delete;
    rd_pool & operator=(const rd_pool &) = delete;

    int32_t size() const { return n_; }
    // Call fn(i, size()) for every part i and return when all have returned. fn must not throw.
    // One caller at a time.
    void run(void (*fn)(void * arg, int32_t i, int32_t n), void * arg);

    // For work the parts share out among themselves (each takes chunks until none is left, so
    // the caller's part alone can finish it): returns once the caller's part is done and every
    // worker that joined in time has left; a worker that wakes after that skips the call and
    // never reads arg. On a loaded machine a preempted worker then costs nothing instead of a
    // scheduler time slice per call. fn must not throw.
    void run_shared(void (*fn)(void * arg, int32_t i, int32_t n), void * arg);

  private:
    void worker(int32_t i);
    template <class Done> void spin(Done done) const; // until done() or spin_us have passed

    int32_t                  n_ = 1;
    int32_t                  spin_us_ = 0;
    std::vector<std::thread> threads_;
    std::mutex               mu_;
    std::condition_variable  start_, done_;
    void run_job(void (*fn)(void *, int32_t, int32_t), void * arg, bool shared);
    void wait_for(std::atomic<int32_t> & count); // spin, then sleep, until count is 0

    std::atomic<uint64_t>    gen_{0};     // bumped by each call: a new job for the workers
    std::atomic<uint64_t>    open_{0};    // gen_ * 2 + 1 while workers may join the job
    std::atomic<int32_t>     active_{0};  // workers that joined and have not left
    std::atomic<int32_t>     pending_{0}; // run(): parts not yet done
    std::atomic<bool>        stop_{false};
    // the job: written before gen_ is bumped, read only by a worker that joined while the job
    // was open (the caller does not return, nor write them again, before such workers leave)
    void (*fn_)(void *, int32_t, int32_t) = nullptr;
    void *                   arg_ = nullptr;
    bool                     shared_ = false;
};
