// The cluster suite's tools on today's single node: a steady append load
// (workload.hpp) from several connections, a SIGKILL in the middle, and
// the replica read back from store.db (read_replica_file) must pass the
// history checker; so must the replica after a restart and more load. This
// keeps the harness honest against a real node while the cluster suite
// waits to be enabled.

#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include "tests/integration/cluster.hpp"
#include "tests/integration/test_support.hpp"
#include "tests/integration/workload.hpp"

using namespace cxesdb::tests;
using namespace std::chrono_literals;

namespace {

bool wait_acks(const workload& w, size_t n) {
  auto target = w.acked() + n;
  return wait_until([&] { return w.acked() >= target; }, 60s);
}

} // namespace

TEST_CASE("a killed node's replica holds every acknowledged append once") {
  node_process node;
  auto c = node.connect();
  ok(c, "create_store", {{"store", "orders"}});
  auto path = node.data_dir() + "/orders/store.db";
  std::vector<sent_append> sent;
  int64_t last_position = -1;
  for (int round = 0; round < 2; ++round) {
    load_options lo;
    lo.store = "orders";
    lo.writers = 4;
    lo.prefix = "r" + std::to_string(round);
    workload w{{node.port()}, lo};
    w.start();
    REQUIRE_MESSAGE(wait_acks(w, 100), "the load does not get going; log:\n"
                                         << node.log_tail());
    if (round == 0)
      node.kill9(); // in the middle of the load
    w.stop();
    if (round == 1)
      REQUIRE(stop_node(node) == 0);
    CHECK(w.unexpected().empty());
    auto history = w.history();
    sent.insert(sent.end(), history.begin(), history.end());
    last_position = std::max(last_position, w.last_acked_position());
    auto rows = read_replica_file(path);
    MESSAGE("round " << round << ": " << sent.size() << " batches sent, "
                     << rows.size() << " rows; " << w.retry_summary());
    CHECK(static_cast<int64_t>(rows.size()) >= last_position + 1);
    auto report = check_history(sent, {{"node1", rows, false}});
    CHECK_MESSAGE(report.ok(), report.message() << "\nlog:\n"
                                                << node.log_tail());
    if (round == 0)
      node.start();
  }
}
