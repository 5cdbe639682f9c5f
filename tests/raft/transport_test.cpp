// The node's Raft transport: its batch codec (bytes from a peer), and the
// actor on CAF's deterministic scheduler: messages of every group for one
// peer node leave as one batch, a peer's batch reaches each group's
// replica, and what cannot be delivered is dropped (Raft retries).

#include <doctest/doctest.h>

#include <string>
#include <utility>
#include <vector>

#include <caf/all.hpp>
#include <caf/scheduler/test_coordinator.hpp>

#include "actors/raft/transport.hpp"
#include "actors/raft/transport_codec.hpp"

namespace raft = cxesdb::actors::raft;

TEST_CASE("a batch of routed messages round-trips") {
  std::string batch;
  raft::append_routed(batch, "orders", "abc");
  raft::append_routed(batch, "default", std::string("\0\1\2", 3));
  raft::append_routed(batch, "orders", "");
  auto out = raft::decode_routed(batch);
  REQUIRE(out);
  REQUIRE(out->size() == 3);
  CHECK((*out)[0].group == "orders");
  CHECK((*out)[0].bytes == "abc");
  CHECK((*out)[1].group == "default");
  CHECK((*out)[1].bytes == std::string("\0\1\2", 3));
  CHECK((*out)[2].bytes.empty());
  CHECK(raft::decode_routed("")->empty());
}

TEST_CASE("a malformed batch is refused whole, never misread") {
  std::string batch;
  raft::append_routed(batch, "orders", "abcdef");
  raft::append_routed(batch, "default", "xyz");
  // Cut anywhere: refused, except right after the first message.
  constexpr size_t first_end = 4 + 6 + 4 + 6;
  for (size_t n = 1; n < batch.size(); ++n) {
    auto out = raft::decode_routed(batch.substr(0, n));
    if (n == first_end)
      CHECK((out && out->size() == 1));
    else
      CHECK_FALSE(out);
  }
  // A length that runs past the end.
  std::string bad = batch;
  bad[0] = '\x7f';
  CHECK_FALSE(raft::decode_routed(bad));
  // An empty group name.
  std::string empty_group;
  raft::append_routed(empty_group, "", "abc");
  CHECK_FALSE(raft::decode_routed(empty_group));
  // An overlong group name.
  std::string long_group;
  raft::append_routed(long_group,
                      std::string(raft::routed_group_bytes_max + 1, 'g'), "");
  CHECK_FALSE(raft::decode_routed(long_group));
}

namespace {

caf::actor_system_config& transport_test_config(caf::actor_system_config& cfg) {
  cfg.set("scheduler.policy", caf::atom("testing"));
  cfg.set("logger.file-verbosity", caf::atom("quiet"));
  cfg.set("logger.console-verbosity", caf::atom("quiet"));
  return cfg;
}

/// Records what an actor receives: a replica's Raft messages, or a peer
/// transport's batches.
struct recorder_state {
  std::vector<std::string> got;
};

caf::behavior recorder(caf::stateful_actor<recorder_state>* self) {
  return {
    [self](raft::raft_msg_atom, std::string& bytes) {
      self->state.got.push_back(std::move(bytes));
    },
    [self](raft::raft_batch_atom, std::string& batch) {
      self->state.got.push_back(std::move(batch));
    },
  };
}

struct transport_fixture {
  caf::actor_system_config cfg;
  caf::actor_system sys{transport_test_config(cfg)};
  caf::scheduler::test_coordinator& sched
    = dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler());

  static std::vector<std::string>& got(const caf::actor& a) {
    auto ptr = caf::actor_cast<caf::abstract_actor*>(a);
    return dynamic_cast<caf::stateful_actor<recorder_state>&>(*ptr).state.got;
  }

  ~transport_fixture() {
    sched.run();
  }
};

constexpr uint64_t node_b = 0xb;
constexpr uint64_t node_c = 0xc;

} // namespace

TEST_CASE_FIXTURE(transport_fixture,
                  "the messages of every group for one peer leave as one "
                  "batch and reach each group's replica") {
  auto a = raft::spawn_transport(sys, {});
  auto b = raft::spawn_transport(sys, {});
  auto spy_c = sys.spawn(recorder);
  auto orders = sys.spawn(recorder);
  auto other = sys.spawn(recorder);
  caf::anon_send(a, raft::raft_peer_atom::value, node_b,
                 caf::actor_cast<caf::actor>(b));
  caf::anon_send(a, raft::raft_peer_atom::value, node_c, spy_c);
  caf::anon_send(b, raft::raft_member_atom::value, std::string{"orders"},
                 orders);
  caf::anon_send(b, raft::raft_member_atom::value, std::string{"other"}, other);
  sched.run();
  caf::anon_send(a, raft::raft_msg_atom::value, std::string{"orders"}, node_b,
                 std::string{"1"});
  caf::anon_send(a, raft::raft_msg_atom::value, std::string{"other"}, node_c,
                 std::string{"2"});
  caf::anon_send(a, raft::raft_msg_atom::value, std::string{"other"}, node_b,
                 std::string{"3"});
  caf::anon_send(a, raft::raft_msg_atom::value, std::string{"orders"}, node_b,
                 std::string{"4"});
  // A group with no replica on B, and a node A does not know: dropped.
  caf::anon_send(a, raft::raft_msg_atom::value, std::string{"gone"}, node_b,
                 std::string{"5"});
  caf::anon_send(a, raft::raft_msg_atom::value, std::string{"orders"},
                 uint64_t{0xd}, std::string{"6"});
  sched.run();
  CHECK(got(orders) == std::vector<std::string>{"1", "4"});
  CHECK(got(other) == std::vector<std::string>{"3"});
  // One batch for C, holding its one message.
  REQUIRE(got(spy_c).size() == 1);
  auto batch = raft::decode_routed(got(spy_c)[0]);
  REQUIRE(batch);
  REQUIRE(batch->size() == 1);
  CHECK((*batch)[0].group == "other");
  CHECK((*batch)[0].bytes == "2");
  // Hostile bytes from a peer: dropped, and the transport goes on.
  caf::anon_send(b, raft::raft_batch_atom::value, std::string{"\x7f\x7f"});
  sched.run();
  caf::anon_send(a, raft::raft_msg_atom::value, std::string{"orders"}, node_b,
                 std::string{"7"});
  sched.run();
  CHECK(got(orders) == std::vector<std::string>{"1", "4", "7"});
  for (auto& x : {caf::actor_cast<caf::actor>(a), caf::actor_cast<caf::actor>(b),
                  spy_c, orders, other})
    caf::anon_send_exit(x, caf::exit_reason::user_shutdown);
}

TEST_CASE_FIXTURE(transport_fixture,
                  "a batch leaves at once past batch_bytes_max; a peer that "
                  "went down loses its batch") {
  raft::transport_config tc;
  tc.batch_bytes_max = 100;
  auto a = raft::spawn_transport(sys, tc);
  auto spy = sys.spawn(recorder);
  caf::anon_send(a, raft::raft_peer_atom::value, node_b, spy);
  sched.run();
  // Three messages of 60 bytes: the second makes the batch pass 100 bytes
  // and it leaves; the third waits for the flush.
  for (int i = 0; i < 3; ++i)
    caf::anon_send(a, raft::raft_msg_atom::value, std::string{"g"}, node_b,
                   std::string(60, static_cast<char>('a' + i)));
  sched.run();
  REQUIRE(got(spy).size() == 2);
  CHECK(raft::decode_routed(got(spy)[0])->size() == 2);
  CHECK(raft::decode_routed(got(spy)[1])->size() == 1);
  // The peer goes down before the flush: its batch is dropped.
  caf::anon_send(a, raft::raft_msg_atom::value, std::string{"g"}, node_b,
                 std::string{"x"});
  caf::anon_send(a, raft::raft_peer_atom::value, node_b, caf::actor{});
  sched.run();
  CHECK(got(spy).size() == 2);
  caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(spy, caf::exit_reason::user_shutdown);
}
