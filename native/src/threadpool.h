// Persistent thread pool: the calling thread is worker 0 and n-1 threads of our
// own do the rest. Workers spin briefly between jobs (a forward step issues a
// few hundred jobs back to back) and sleep on a condition variable when idle, so
// an idle model burns no CPU.
//
// Models share one pool per thread count (shared()): a process keeps one set of
// workers sized to the cores, however many models it has loaded. A draft and its
// target, or the variants a benchmark alternates, then never have an idle pool
// spinning on the cores the running one needs. A forward step holds the pool's
// step lock (step_lock()) for its whole duration, so steps of different models
// take turns instead of interleaving their jobs.
#pragma once
#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace lowbit {

class ThreadPool {
 public:
  using Job = std::function<void(int tid, int nthreads)>;
  explicit ThreadPool(int nthreads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // The process-wide pool of n threads, created on first use and freed when the
  // last model using it is gone.
  static std::shared_ptr<ThreadPool> shared(int nthreads);
  // Held by a caller for a whole sequence of run() calls (one forward step).
  std::mutex& step_lock() { return step_mutex_; }

  int size() const { return n_; }
  // Runs job(tid, n) for tid in [0, n) concurrently; returns when all finished.
  void run(const Job& job);
  // Like run(), but small jobs (work below ~32K elements) run inline as
  // job(0, 1): a decode step's elementwise ops cost less than a dispatch.
  void run_sized(long work, const Job& job) {
    if (work < kInlineWork || n_ == 1) job(0, 1);
    else run(job);
  }
  static constexpr long kInlineWork = 32768;

 private:
  void worker_loop(int tid);

  int n_;
  std::vector<std::thread> threads_;
  const Job* job_ = nullptr;
  std::atomic<unsigned long long> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<int> sleeping_{0};
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::condition_variable cv_;
  std::mutex step_mutex_;
};

// Even split of [0, n) into `parts` contiguous ranges; returns range `i`.
inline void split_range(long n, int parts, int i, long* begin, long* end) {
  long base = n / parts, rem = n % parts;
  *begin = i * base + (i < rem ? i : rem);
  *end = *begin + base + (i < rem ? 1 : 0);
}

}  // namespace lowbit
