#include "stores/local_leaders.hpp"

#include <mutex>

namespace cxesdb::stores {

void local_leaders::set(const std::string& store, const caf::actor& writer) {
  std::unique_lock<std::shared_mutex> guard{mtx_};
  writers_[store] = writer;
}

void local_leaders::clear(const std::string& store, const caf::actor& writer) {
  std::unique_lock<std::shared_mutex> guard{mtx_};
  auto i = writers_.find(store);
  if (i != writers_.end() && i->second == writer)
    writers_.erase(i);
}

caf::actor local_leaders::find(const std::string& store) const {
  std::shared_lock<std::shared_mutex> guard{mtx_};
  auto i = writers_.find(store);
  return i == writers_.end() ? caf::actor{} : i->second;
}

size_t local_leaders::size() const {
  std::shared_lock<std::shared_mutex> guard{mtx_};
  return writers_.size();
}

} // namespace cxesdb::stores
