#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "actors/executor.hpp"

namespace cxesdb::actors {

/// A fixed set of threads that run blocking work (SQLite, fsync, file system)
/// off CAF's scheduler threads.
///
/// Actors never block: they hand a job to the pool and receive its outcome as
/// a message that the job sends when it is done. The queue is bounded: when
/// it is full, `try_submit` refuses the job and the caller answers
/// `overloaded` instead of letting memory grow.
class io_pool : public executor {
public:

  /// Default number of threads.
  static constexpr size_t threads_default = 4;

  /// Default bound of queued jobs, across all stores of a node.
  static constexpr size_t queue_max_default = 65536;

  explicit io_pool(size_t threads = threads_default,
                   size_t queue_max = queue_max_default);

  io_pool(const io_pool&) = delete;
  io_pool& operator=(const io_pool&) = delete;

  /// Finishes every queued job, then joins the threads.
  ~io_pool() override;

  /// Queues `f` and returns true, or returns false when the queue is full or
  /// the pool is stopping.
  bool try_submit(job f) override;

  /// Queues `f` regardless of the bound. After `stop`, runs it inline: a
  /// control job (closing a file) must never be lost.
  void submit(job f) override;

  /// Number of jobs waiting to run.
  size_t queued() const;

  size_t queue_max() const noexcept {
    return queue_max_;
  }

  /// Runs the remaining jobs and joins the threads. Idempotent.
  void stop();

private:
  void run();

  const size_t queue_max_;
  mutable std::mutex mtx_;
  std::condition_variable cv_;
  std::deque<job> jobs_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

} // namespace cxesdb::actors
