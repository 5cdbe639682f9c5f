#include "actors/raft/storage.hpp"

#include <algorithm>

#include "actors/assert.hpp"

namespace cxesdb::actors::raft {

std::optional<std::string> memory_storage::load(initial_state& out) {
  out = state_;
  return std::nullopt;
}

std::optional<std::string> memory_storage::save(const ready& rd) {
  auto& es = state_.entries;
  if (rd.snap) {
    CXESDB_ASSERT(rd.snap->meta.index >= state_.snap.meta.index);
    state_.snap = *rd.snap;
    auto idx = rd.snap->meta.index;
    if (rd.snap_install)
      es.clear();
    else
      es.erase(std::remove_if(es.begin(), es.end(),
                              [idx](const entry& e) { return e.index <= idx; }),
               es.end());
  }
  if (!rd.entries.empty()) {
    auto first = rd.entries.front().index;
    es.erase(std::remove_if(es.begin(), es.end(),
                            [first](const entry& e) {
                              return e.index >= first;
                            }),
             es.end());
    for (auto& e : rd.entries)
      if (e.index > state_.snap.meta.index)
        es.push_back(e);
  }
  if (!es.empty())
    CXESDB_ASSERT(es.front().index == state_.snap.meta.index + 1
                  && es.back().index
                       == state_.snap.meta.index + es.size());
  if (rd.hard)
    state_.hard = *rd.hard;
  ++saves_;
  return std::nullopt;
}

} // namespace cxesdb::actors::raft
