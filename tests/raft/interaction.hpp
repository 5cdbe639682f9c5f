#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "actors/raft/config.hpp"
#include "actors/raft/core.hpp"
#include "actors/raft/invariant_checker.hpp"
#include "actors/raft/storage.hpp"

namespace cxesdb::tests::raft {

namespace r = cxesdb::actors::raft;

/// A hand-driven group of cores for unit and golden tests: nothing happens
/// unless a command says so (etcd raft's interaction environment, in our
/// own words). Messages wait in a mailbox until delivered or dropped; the
/// invariant checker runs after every step.
class interaction {
public:
  struct node {
    r::memory_storage disk;
    std::unique_ptr<r::core> core;
    std::vector<r::entry> applied;
    uint64_t sm_index = 0;
    uint64_t sm_digest = 0;
    std::vector<r::read_state> reads;
  };

  /// Runs one command line ("propose 1 x"); returns its output, one line
  /// per event, without trailing newline. Unknown commands abort the test.
  std::string run(const std::string& line);

  // Programmatic forms of the commands.
  void add_nodes(size_t n, const r::config& tmpl);
  void add_empty_node(r::node_id id);
  std::string process_ready(r::node_id id);
  std::string deliver(r::node_id id);
  std::string stabilize();
  void tick(r::node_id id, uint64_t n);
  void crash(r::node_id id);
  void restart(r::node_id id);

  node& at(r::node_id id) {
    return nodes_.at(id);
  }
  r::core& core(r::node_id id) {
    return *nodes_.at(id).core;
  }
  std::vector<r::message>& mailbox() {
    return mailbox_;
  }
  const r::invariant_checker& checker() const {
    return checker_;
  }
  /// The current leader with the highest term, or no_node.
  r::node_id leader() const;

  r::config tmpl;
  /// Aborts at the first invariant violation (off to test the checker).
  bool abort_on_violation = true;

private:
  void start(r::node_id id, node& n);
  void apply(r::node_id id, node& n, const r::entry& e);

  std::map<r::node_id, node> nodes_;
  std::vector<r::message> mailbox_;
  std::set<r::node_id> isolated_;
  r::invariant_checker checker_;
  uint64_t seed_ = 1;
};

} // namespace cxesdb::tests::raft
