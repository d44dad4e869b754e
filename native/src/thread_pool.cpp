// thread_pool.cpp - the persistent pool (see thread_pool.h).
#include "thread_pool.h"

#include <algorithm>
#include <chrono>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
static inline void cpu_relax() { _mm_pause(); }
#else
static inline void cpu_relax() {}
#endif

// Poll done() for up to RD_POOL_SPIN_US; true as soon as it holds.
template <class Done>
static bool spin_until(Done && done) {
    using clock = std::chrono::steady_clock;
    const clock::time_point end = clock::now() + std::chrono::microseconds(RD_POOL_SPIN_US);
    for (int32_t i = 1;; i++) {
        if (done()) return true;
        cpu_relax();
        if (i % 64 == 0 && clock::now() >= end) return done();
    }
}

rd_pool::rd_pool(int32_t n_threads) : n_(std::max(1, n_threads)) {
    threads_.reserve((size_t) (n_ - 1));
    for (int32_t i = 1; i < n_; i++) threads_.emplace_back(&rd_pool::worker, this, i);
}

rd_pool::~rd_pool() {
    {
        std::lock_guard<std::mutex> lock(mu_);
        stop_.store(true);
    }
    start_.notify_all();
    for (std::thread & t : threads_) t.join();
}

void rd_pool::worker(int32_t i) {
    uint64_t seen = 0;
    for (;;) {
        const auto ready = [&] { return stop_.load(std::memory_order_acquire) || gen_.load(std::memory_order_acquire) != seen; };
        if (!spin_until(ready)) {
            std::unique_lock<std::mutex> lock(mu_);
            start_.wait(lock, ready);
        }
        if (stop_.load(std::memory_order_acquire)) return;
        seen = gen_.load(std::memory_order_acquire); // fn_ and arg_ were written before the bump
        fn_(arg_, i, n_);
        if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
            std::lock_guard<std::mutex> lock(mu_); // run() checks pending_ under mu_ before it sleeps
            done_.notify_one();
        }
    }
}

void rd_pool::run(void (*fn)(void * arg, int32_t i, int32_t n), void * arg) {
    if (n_ == 1) {
        fn(arg, 0, 1);
        return;
    }
    fn_ = fn; // no worker reads these until gen_ moves: the last job ended before run() returned
    arg_ = arg;
    pending_.store(n_ - 1, std::memory_order_relaxed);
    {
        std::lock_guard<std::mutex> lock(mu_); // a worker checks gen_ under mu_ before it sleeps
        gen_.fetch_add(1, std::memory_order_release);
    }
    start_.notify_all();
    fn(arg, 0, n_);
    const auto done = [&] { return pending_.load(std::memory_order_acquire) == 0; };
    if (spin_until(done)) return;
    std::unique_lock<std::mutex> lock(mu_);
    done_.wait(lock, done);
}
