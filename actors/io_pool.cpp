#include "actors/io_pool.hpp"

#include "actors/assert.hpp"
#include "actors/io_thread.hpp"

namespace cxesdb::actors {

io_pool::io_pool(size_t threads, size_t queue_max) : queue_max_(queue_max) {
  CXESDB_ASSERT(threads > 0);
  CXESDB_ASSERT(queue_max > 0);
  threads_.reserve(threads);
  for (size_t i = 0; i < threads; ++i)
    threads_.emplace_back([this] { run(); });
}

io_pool::~io_pool() {
  stop();
}

bool io_pool::try_submit(job f) {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (stopping_ || jobs_.size() >= queue_max_)
      return false;
    jobs_.push_back(std::move(f));
  }
  cv_.notify_one();
  return true;
}

void io_pool::submit(job f) {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (!stopping_) {
      jobs_.push_back(std::move(f));
      cv_.notify_one();
      return;
    }
  }
  io_thread::scope may_block;
  f();
}

size_t io_pool::queued() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return jobs_.size();
}

void io_pool::stop() {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (stopping_ && threads_.empty())
      return;
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_)
    if (t.joinable())
      t.join();
  threads_.clear();
}

void io_pool::run() {
  io_thread::active = true;
  for (;;) {
    job f;
    {
      std::unique_lock<std::mutex> guard{mtx_};
      cv_.wait(guard, [this] { return stopping_ || !jobs_.empty(); });
      if (jobs_.empty())
        return; // stopping and drained
      f = std::move(jobs_.front());
      jobs_.pop_front();
    }
    f();
  }
}

} // namespace cxesdb::actors
