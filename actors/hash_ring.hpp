#pragma once

// Placeholder until the registry work lands (replaced by its hash ring).

#include <cstdint>
#include <string>
#include <vector>

namespace cxesdb::actors {

uint64_t stable_hash64(const std::string& x);

class hash_ring {
public:
  static constexpr size_t vnodes_default = 128;
  explicit hash_ring(std::vector<std::string> nodes,
                     size_t vnodes = vnodes_default);
  std::vector<std::string> owners(const std::string& key, size_t n) const;
  bool empty() const noexcept { return points_.empty(); }
  size_t size() const noexcept { return nodes_; }

private:
  std::vector<std::pair<uint64_t, std::string>> points_;
  size_t nodes_ = 0;
};

} // namespace cxesdb::actors
