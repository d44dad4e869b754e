// thread_pool.cpp - the persistent pool (see thread_pool.h).
//
// A call publishes its job (fn_, arg_, shared_), opens it (open_ = gen * 2 + 1) and bumps gen_.
// A worker that sees a new generation joins (active_ + 1) and runs its part only if the job is
// still open for that generation; it leaves (active_ - 1) either way. The caller runs part 0,
// waits for every part when the job is not shared, closes the job and waits until no worker is
// active: only then may it return or publish the next job. Joining then checking, and closing
// then checking, are sequentially consistent, so a worker either sees the job closed or is
// waited for.
#include "thread_pool.h"

#include <algorithm>
#include <chrono>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
static inline void cpu_relax() { _mm_pause(); }
#else
static inline void cpu_relax() { std::this_thread::yield(); }
#endif

rd_pool::rd_pool(int32_t n_threads, int32_t spin_us) : n_(std::max(1, n_threads)), spin_us_(std::max(0, spin_us)) {
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

template <class Done> void rd_pool::spin(Done done) const {
    if (spin_us_ == 0 || done()) return;
    const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(spin_us_);
    for (;;) {
        for (int k = 0; k < 64; k++) {
            if (done()) return;
            cpu_relax();
        }
        if (std::chrono::steady_clock::now() >= until) return;
    }
}

// A side that stops spinning sleeps under mu_ with its condition re-checked there; the other
// side changes the condition before it takes mu_ to notify, so no wake-up is lost.
void rd_pool::worker(int32_t i) {
    uint64_t seen = 0;
    for (;;) {
        spin([&] { return gen_.load(std::memory_order_acquire) != seen || stop_.load(std::memory_order_relaxed); });
        if (gen_.load(std::memory_order_acquire) == seen && !stop_.load()) {
            std::unique_lock<std::mutex> lock(mu_);
            start_.wait(lock, [&] { return stop_.load() || gen_.load(std::memory_order_acquire) != seen; });
        }
        if (stop_.load()) return;
        seen = gen_.load();
        active_.fetch_add(1);
        if (open_.load() == seen * 2 + 1) {
            const bool shared = shared_;
            fn_(arg_, i, n_);
            if (!shared && pending_.fetch_sub(1) == 1) {
                std::lock_guard<std::mutex> lock(mu_);
                done_.notify_all();
            }
        }
        if (active_.fetch_sub(1) == 1) {
            std::lock_guard<std::mutex> lock(mu_);
            done_.notify_all();
        }
    }
}

void rd_pool::wait_for(std::atomic<int32_t> & count) {
    spin([&] { return count.load() == 0; });
    if (count.load() != 0) {
        std::unique_lock<std::mutex> lock(mu_);
        done_.wait(lock, [&] { return count.load() == 0; });
    }
}

void rd_pool::run_job(void (*fn)(void *, int32_t, int32_t), void * arg, bool shared) {
    if (n_ == 1) {
        fn(arg, 0, 1);
        return;
    }
    fn_ = fn;
    arg_ = arg;
    shared_ = shared;
    pending_.store(n_ - 1);
    const uint64_t g = gen_.load() + 1;
    open_.store(g * 2 + 1);
    gen_.store(g);
    {
        std::lock_guard<std::mutex> lock(mu_);
    }
    start_.notify_all();
    fn(arg, 0, n_);
    if (!shared) wait_for(pending_); // every part runs
    open_.store(g * 2);              // closed: a worker that joins now skips
    wait_for(active_);
}

void rd_pool::run(void (*fn)(void * arg, int32_t i, int32_t n), void * arg) { run_job(fn, arg, false); }

void rd_pool::run_shared(void (*fn)(void * arg, int32_t i, int32_t n), void * arg) { run_job(fn, arg, true); }
