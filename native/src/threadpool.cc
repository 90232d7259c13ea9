#include "threadpool.h"

#include <chrono>
#include <map>

#if defined(__x86_64__)
#include <immintrin.h>
#define LOWBIT_PAUSE() _mm_pause()
#else
#define LOWBIT_PAUSE() std::this_thread::yield()
#endif

namespace lowbit {

namespace {
// How long an idle worker spins before sleeping. Long enough to cover the gap
// between two decode steps (sampling in JS), short enough not to matter idle.
constexpr auto kSpinFor = std::chrono::milliseconds(3);
}  // namespace

std::shared_ptr<ThreadPool> ThreadPool::shared(int nthreads) {
  static std::mutex registry_mutex;
  static std::map<int, std::weak_ptr<ThreadPool>> registry;
  std::lock_guard<std::mutex> lock(registry_mutex);
  std::shared_ptr<ThreadPool> pool = registry[nthreads].lock();
  if (!pool) {
    pool = std::make_shared<ThreadPool>(nthreads);
    registry[nthreads] = pool;
  }
  return pool;
}

ThreadPool::ThreadPool(int nthreads) : n_(nthreads < 1 ? 1 : nthreads) {
  for (int t = 1; t < n_; t++) threads_.emplace_back([this, t] { worker_loop(t); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_.store(true);
    generation_.fetch_add(1);
  }
  cv_.notify_all();
  for (auto& th : threads_) th.join();
}

void ThreadPool::run(const Job& job) {
  if (n_ == 1) {
    job(0, 1);
    return;
  }
  job_ = &job;
  pending_.store(n_ - 1);
  generation_.fetch_add(1);  // seq_cst: publishes job_ and pending_
  if (sleeping_.load() > 0) {
    std::lock_guard<std::mutex> lock(mutex_);
    cv_.notify_all();
  }
  job(0, n_);
  // Spin, then yield: if another process holds the core a worker needs,
  // yielding lets it run instead of burning our whole time slice.
  for (unsigned spins = 0; pending_.load(std::memory_order_acquire) != 0; spins++) {
    if (spins < 20000) LOWBIT_PAUSE();
    else std::this_thread::yield();
  }
  job_ = nullptr;
}

void ThreadPool::worker_loop(int tid) {
  unsigned long long seen = 0;
  for (;;) {
    // Spin for new work, then sleep.
    auto start = std::chrono::steady_clock::now();
    unsigned spins = 0;
    while (generation_.load(std::memory_order_acquire) == seen) {
      if (spins < 20000) LOWBIT_PAUSE();
      else std::this_thread::yield();
      if ((++spins & 1023) == 0 && std::chrono::steady_clock::now() - start > kSpinFor) {
        std::unique_lock<std::mutex> lock(mutex_);
        sleeping_.fetch_add(1);
        cv_.wait(lock, [&] { return generation_.load() != seen; });
        sleeping_.fetch_sub(1);
        break;
      }
    }
    seen = generation_.load();
    if (stop_.load()) return;
    (*job_)(tid, n_);
    pending_.fetch_sub(1, std::memory_order_release);
  }
}

}  // namespace lowbit
