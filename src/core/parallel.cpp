#include "core/parallel.hpp"

#include <pthread.h>

#include <sched.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>

namespace spicenn::detail {

namespace {

// A thread that blocks on a condition variable lets its core go idle, and on
// a virtual machine waking it again took ~90 µs (bench_parallel; a training
// step of the MON makes two parallel calls ~0.4 ms apart). So
// both sides first poll for up to this long, yielding the core to anything
// else that is runnable, before they block.
constexpr auto poll_before_blocking = std::chrono::microseconds(500);

// Polls done() (yielding between polls) until it holds or the time is up.
template <typename Done>
void poll(Done done) {
  const auto until = std::chrono::steady_clock::now() + poll_before_blocking;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= until) return;
    ::sched_yield();
  }
}

// Threads that wait for work, numbered 1..; they outlive every call (and are
// left to the process's exit: joining them from a static destructor could
// race with other static destructors that still run work).
class thread_pool {
 public:
  static thread_pool& instance() {
    static const bool at_fork = [] {
      // A forked child has none of the pool's threads: it starts a new pool.
      ::pthread_atfork(nullptr, nullptr, [] { current() = new thread_pool; });
      return true;
    }();
    (void)at_fork;
    return *current();
  }

  bool run(int workers, const std::function<void(int)>& task, const std::function<void()>& caller) {
    std::unique_lock busy(busy_, std::try_to_lock);
    if (!busy.owns_lock()) return false;  // another call is using the pool
    {
      std::lock_guard lock(mutex_);
      while (static_cast<int>(threads_.size()) < workers - 1) {
        const int index = static_cast<int>(threads_.size()) + 1;
        threads_.emplace_back([this, index] { serve(index); });
        threads_.back().detach();
      }
      task_ = &task;
      workers_ = workers;
      pending_ = workers - 1;
      ++generation_;
    }
    wake_.notify_all();
    caller();
    poll([&] { return pending_.load(std::memory_order_acquire) == 0; });
    std::unique_lock lock(mutex_);
    done_.wait(lock, [&] { return pending_ == 0; });
    task_ = nullptr;
    return true;
  }

 private:
  void serve(int index) {
    std::uint64_t seen = 0;
    for (;;) {
      poll([&] { return generation_.load(std::memory_order_acquire) != seen; });
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return generation_ != seen; });
      seen = generation_;
      if (index >= workers_) continue;  // not needed this time
      const auto* task = task_;
      lock.unlock();
      (*task)(index);
      lock.lock();
      if (--pending_ == 0) done_.notify_one();
    }
  }

  static thread_pool*& current() {
    static thread_pool* pool = new thread_pool;  // never destroyed, see above
    return pool;
  }

  std::mutex busy_;   // held by the call that uses the pool
  std::mutex mutex_;  // guards what follows
  std::condition_variable wake_, done_;
  std::vector<std::thread> threads_;
  const std::function<void(int)>* task_ = nullptr;
  int workers_ = 0;
  // Atomic so that the polls can read them without the mutex; changed under it.
  std::atomic<int> pending_ = 0;
  std::atomic<std::uint64_t> generation_ = 0;
};

}  // namespace

bool run_on_pool(int workers, const std::function<void(int)>& task, const std::function<void()>& caller) {
  return thread_pool::instance().run(workers, task, caller);
}

}  // namespace spicenn::detail
