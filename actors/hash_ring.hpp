#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace cxesdb::actors {

/// A stable 64-bit hash of `text`: FNV-1a 64 followed by the MurmurHash3
/// 64-bit finalizer (the finalizer spreads FNV's weak low bits over the whole
/// word, which matters for ring points of similar names).
///
/// The value depends only on the bytes of `text`: it is the same on every
/// machine, process and build, unlike `std::hash`. Nodes derive their Raft id
/// from their name with it, so it never returns 0 (0 maps to 1), and the ring
/// places nodes and keys with it. Changing it moves every store: the unit
/// tests pin golden values.
uint64_t stable_hash64(const std::string& text);

/// A consistent hash ring over node names, in the manner of libring (used by
/// Elixir's Swarm) and Horde.
///
/// Each node owns `vnodes` points on a 64-bit circle, at
/// `stable_hash64(name + "#" + i)`. A key belongs to the nodes whose points
/// follow `stable_hash64(key)` clockwise. Adding or removing one node moves
/// only the keys next to its points (about 1/N of them), and a key never moves
/// between two nodes that stay. The ring is a value: pure, no CAF, no clock,
/// and the same for the same set of names wherever it is built (the order in
/// which names are given does not matter; duplicates count once).
class hash_ring {
public:
  /// Default number of points per node. More points balance better and cost
  /// memory and construction time (24 bytes per point).
  static constexpr size_t vnodes_default = 128;

  /// Most points per node accepted: a bound on memory per node.
  static constexpr size_t vnodes_max = 4096;

  /// An empty ring: `owners` returns nothing.
  hash_ring() = default;

  /// A ring of `nodes`, each with `vnodes` points (1 to `vnodes_max`). Names
  /// must not be empty.
  explicit hash_ring(std::vector<std::string> nodes,
                     size_t vnodes = vnodes_default);

  /// The first `n` distinct nodes clockwise from `stable_hash64(key)`, the
  /// preferred one first. Fewer when the ring has fewer than `n` nodes; none
  /// when it is empty.
  std::vector<std::string> owners(const std::string& key, size_t n) const;

  /// The preferred owner of `key`: `owners(key, 1)[0]`. The ring must not be
  /// empty.
  const std::string& owner(const std::string& key) const;

  /// Whether the ring has no nodes.
  bool empty() const noexcept {
    return nodes_.empty();
  }

  /// Number of distinct nodes.
  size_t size() const noexcept {
    return nodes_.size();
  }

  /// The nodes, sorted by name.
  const std::vector<std::string>& nodes() const noexcept {
    return nodes_;
  }

  size_t vnodes() const noexcept {
    return vnodes_;
  }

private:
  /// The index in `points_` of the first point at or after `h`, wrapping.
  size_t first_point(uint64_t h) const;

  /// Sorted, distinct node names.
  std::vector<std::string> nodes_;

  /// Points sorted by (hash, node index): the node index breaks the (very
  /// unlikely) tie of two equal hashes the same way everywhere.
  std::vector<std::pair<uint64_t, uint32_t>> points_;

  size_t vnodes_ = vnodes_default;
};

} // namespace cxesdb::actors
