#pragma once

#include <cstddef>
#include <deque>
#include <functional>

namespace cxesdb::actors {

/// Where actors send blocking work (SQLite, fsync, file system) so that it
/// never runs on a CAF scheduler thread.
///
/// A job reports its outcome by sending a message to an actor. The node uses
/// an `io_pool`; deterministic tests use a `manual_executor` and decide when
/// jobs run.
class executor {
public:
  using job = std::function<void()>;

  virtual ~executor() = default;

  /// Queues `f`; false when the executor is full or stopping. A refused job
  /// is the caller's to answer (usually with `overloaded`).
  virtual bool try_submit(job f) = 0;

  /// Queues `f` even when the executor is full. Only for the few control jobs
  /// that must run (opening and closing files, creating and removing
  /// stores), never for per-request work.
  virtual void submit(job f) = 0;
};

/// An executor that runs nothing until told to: for tests on CAF's
/// deterministic scheduler, where jobs run on the test thread.
class manual_executor : public executor {
public:
  /// Refuses jobs beyond this many, as a full io_pool would.
  explicit manual_executor(size_t queue_max = 1u << 20)
    : queue_max_(queue_max) {
  }

  bool try_submit(job f) override {
    if (jobs_.size() >= queue_max_)
      return false;
    jobs_.push_back(std::move(f));
    return true;
  }

  void submit(job f) override {
    jobs_.push_back(std::move(f));
  }

  /// Runs the oldest job; false when there was none.
  bool run_once() {
    if (jobs_.empty())
      return false;
    auto f = std::move(jobs_.front());
    jobs_.pop_front();
    f();
    return true;
  }

  /// Runs jobs until none is left (including those that jobs queue).
  size_t run_all() {
    size_t n = 0;
    while (run_once())
      ++n;
    return n;
  }

  size_t queued() const noexcept {
    return jobs_.size();
  }

private:
  size_t queue_max_;
  std::deque<job> jobs_;
};

} // namespace cxesdb::actors
