#include "actors/hash_ring.hpp"

#include <algorithm>
#include <set>

namespace cxesdb::actors {

uint64_t stable_hash64(const std::string& x) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : x) {
    h ^= c;
    h *= 1099511628211ull;
  }
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  return h == 0 ? 1 : h;
}

hash_ring::hash_ring(std::vector<std::string> nodes, size_t vnodes) {
  std::sort(nodes.begin(), nodes.end());
  nodes.erase(std::unique(nodes.begin(), nodes.end()), nodes.end());
  nodes_ = nodes.size();
  for (auto& n : nodes)
    for (size_t i = 0; i < vnodes; ++i)
      points_.emplace_back(stable_hash64(n + "#" + std::to_string(i)), n);
  std::sort(points_.begin(), points_.end());
}

std::vector<std::string> hash_ring::owners(const std::string& key,
                                           size_t n) const {
  std::vector<std::string> out;
  if (points_.empty())
    return out;
  auto h = stable_hash64(key);
  auto it = std::lower_bound(points_.begin(), points_.end(),
                             std::make_pair(h, std::string{}));
  std::set<std::string> seen;
  for (size_t k = 0; k < points_.size() && out.size() < std::min(n, nodes_);
       ++k, ++it) {
    if (it == points_.end())
      it = points_.begin();
    if (seen.insert(it->second).second)
      out.push_back(it->second);
  }
  return out;
}

} // namespace cxesdb::actors
