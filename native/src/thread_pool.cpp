// thread_pool.cpp - the persistent pool (see thread_pool.h).
//
// A call publishes its job (fn_, arg_), opens it (open_ = gen * 2 + 1) and bumps gen_. A worker
// that sees a new generation joins (active_ + 1) and runs its part only if the job is still open
// for that generation; it leaves (active_ - 1) either way. The caller runs part 0, closes the
// job and waits until no worker is active: only then may it return or publish the next job. Joining then checking, and closing
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
        if (open_.load() == seen * 2 + 1) fn_(arg_, i, n_);
        if (active_.fetch_sub(1) == 1) {
            std::lock_guard<std::mutex> lock(mu_);
            done_.notify_all();
        }
    }
}

void rd_pool::run(void (*fn)(void * arg, int32_t i, int32_t n), void * arg) {
    if (n_ == 1) {
        fn(arg, 0, 1);
        return;
    }
    fn_ = fn;
    arg_ = arg;
    const uint64_t g = gen_.load() + 1;
    open_.store(g * 2 + 1);
    gen_.store(g);
    {
        std::lock_guard<std::mutex> lock(mu_);
    }
    start_.notify_all();
    fn(arg, 0, n_);
    open_.store(g * 2); // closed: a worker that joins now skips
    spin([&] { return active_.load() == 0; });
    if (active_.load() != 0) {
        std::unique_lock<std::mutex> lock(mu_);
        done_.wait(lock, [&] { return active_.load() == 0; });
    }
}

rd_chunks::rd_chunks(int32_t total, int32_t align, int32_t parts) : total_(std::max(0, total)) {
    align = std::max(1, align);
    const int32_t units = (total_ + align - 1) / align;
    const int32_t n = std::max(1, std::min(units, 4 * std::max(1, parts))); // a few per part
    size_ = std::max(1, (units + n - 1) / n) * align;
    n_ = std::max(1, (total_ + size_ - 1) / size_);
}
