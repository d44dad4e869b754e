// thread_pool.cpp - the persistent pool (see thread_pool.h).
#include "thread_pool.h"

#include <algorithm>

rd_pool::rd_pool(int32_t n_threads) : n_(std::max(1, n_threads)) {
    threads_.reserve((size_t) (n_ - 1));
    for (int32_t i = 1; i < n_; i++) threads_.emplace_back(&rd_pool::worker, this, i);
}

rd_pool::~rd_pool() {
    {
        std::lock_guard<std::mutex> lock(mu_);
        stop_ = true;
    }
    start_.notify_all();
    for (std::thread & t : threads_) t.join();
}

void rd_pool::worker(int32_t i) {
    uint64_t seen = 0;
    for (;;) {
        void (*fn)(void *, int32_t, int32_t);
        void * arg;
        {
            std::unique_lock<std::mutex> lock(mu_);
            start_.wait(lock, [&] { return stop_ || gen_ != seen; });
            if (stop_) return;
            seen = gen_;
            fn = fn_;
            arg = arg_;
        }
        fn(arg, i, n_);
        std::lock_guard<std::mutex> lock(mu_);
        if (--pending_ == 0) done_.notify_one();
    }
}

void rd_pool::run(void (*fn)(void * arg, int32_t i, int32_t n), void * arg) {
    if (n_ == 1) {
        fn(arg, 0, 1);
        return;
    }
    {
        std::lock_guard<std::mutex> lock(mu_);
        fn_ = fn;
        arg_ = arg;
        pending_ = n_ - 1;
        gen_++;
    }
    start_.notify_all();
    fn(arg, 0, n_);
    std::unique_lock<std::mutex> lock(mu_);
    done_.wait(lock, [&] { return pending_ == 0; });
}
