// thread_pool.h - a small persistent pool for the session's own kernels (the LM head, the body
// kernel and attention, the drafter's LM head): run(fn) calls fn(i, n), part 0 on the caller's
// thread and the others on workers created once, so a call costs a hand-off instead
// of n thread creations; the parts share the work out among themselves (rd_chunks).
//
// Between calls a worker spins for spin_us microseconds, then sleeps on a condition variable.
// A session whose llama.cpp context runs its own threads gets a pool that does not spin
// (spin_us 0) for its LM head, which runs a few times per step beside llama.cpp's threads. A
// Q4_1 model's session runs ggml on one thread and gets a spinning pool, shared by all of the
// above: it runs ~200 times per decode, a few microseconds of ggml's one-thread work apart, where
// a sleeping hand-off (~10-30 us) would cost as much as the products (body_kernel.h).
#pragma once

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

// Work the parts of a call share out: chunks of whole units of `align` items (the last chunk may
// end short, at total), a few per part, each taken by whichever part asks next. Every item must
// be computable alone (the caller's part may end up taking them all: rd_pool::run).
struct rd_chunks {
    rd_chunks(int32_t total, int32_t align, int32_t parts);
    template <class F> void take(F f) { // f(first, end) for each chunk this part takes
        for (int32_t c = next_.fetch_add(1, std::memory_order_relaxed); c < n_; c = next_.fetch_add(1, std::memory_order_relaxed))
            f(c * size_, std::min(total_, (c + 1) * size_));
    }

  private:
    std::atomic<int32_t> next_{0};
    int32_t              n_ = 1, size_ = 1, total_ = 0; // n_ chunks of size_ items
};

class rd_pool {
  public:
    // n_threads >= 1 parts per call (n_threads - 1 workers)
    explicit rd_pool(int32_t n_threads, int32_t spin_us = 0);
    ~rd_pool();
    rd_pool(const rd_pool &) = delete;
    rd_pool & operator=(const rd_pool &) = delete;

    int32_t size() const { return n_; }
    // Call fn(arg, i, size()) on the caller's thread (i = 0) and on the workers that wake while
    // the call is open; for work the parts share out (rd_chunks), so the caller's part alone can
    // finish it. Returns once the caller's part is done and every worker that joined has left; a
    // worker that wakes after that skips the call and never reads arg, so on a loaded machine a
    // preempted worker costs nothing instead of a scheduler time slice per call. fn must not
    // throw. One caller at a time.
    void run(void (*fn)(void * arg, int32_t i, int32_t n), void * arg);

  private:
    void worker(int32_t i);
    template <class Done> void spin(Done done) const; // until done() or spin_us have passed

    int32_t                  n_ = 1;
    int32_t                  spin_us_ = 0;
    std::vector<std::thread> threads_;
    std::mutex               mu_;
    std::condition_variable  start_, done_;
    std::atomic<uint64_t>    gen_{0};     // bumped by each call: a new job for the workers
    std::atomic<uint64_t>    open_{0};    // gen_ * 2 + 1 while workers may join the job
    std::atomic<int32_t>     active_{0};  // workers that joined and have not left
    std::atomic<bool>        stop_{false};
    // the job: written before gen_ is bumped, read only by a worker that joined while the job
    // was open (the caller does not return, nor write them again, before such workers leave)
    void (*fn_)(void *, int32_t, int32_t) = nullptr;
    void *                   arg_ = nullptr;
};
