// Unit tests of the pure consensus core, written as the paper's rules.

#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "actors/raft/codec.hpp"
#include "actors/raft/core.hpp"
#include "actors/raft/snapshot_chunk.hpp"
#include "tests/raft/interaction.hpp"

namespace r = cxesdb::actors::raft;
using cxesdb::tests::raft::interaction;

namespace {

r::node_id elect(interaction& env, size_t n, r::config tmpl = {}) {
  env.add_nodes(n, tmpl);
  env.run("campaign 1");
  env.stabilize();
  REQUIRE(env.leader() == 1);
  return 1;
}

size_t count_to(const std::vector<r::message>& ms, r::node_id to,
                r::message_type t) {
  size_t n = 0;
  for (auto& m : ms)
    n += m.to == to && m.type == t ? 1 : 0;
  return n;
}

} // namespace

TEST_CASE("a single voter elects itself and commits on its own") {
  interaction env;
  env.add_nodes(1, {});
  env.run("campaign 1");
  env.stabilize();
  CHECK(env.core(1).role() == r::role::leader);
  CHECK(env.run("propose 1 x") == "ok 3/2");
  env.stabilize();
  CHECK(env.core(1).commit_index() == 3);
  CHECK(env.at(1).applied.back().data == "x");
}

TEST_CASE("an entry commits only once a majority persisted it") {
  interaction env;
  elect(env, 3);
  env.run("propose 1 x");
  env.process_ready(1);
  env.deliver(2);
  // Node 2 accepted the entry but has not persisted it: no answer yet.
  env.deliver(1);
  CHECK(env.core(1).commit_index() == 2);
  env.process_ready(2);
  env.deliver(1);
  CHECK(env.core(1).commit_index() == 3);
}

TEST_CASE("a voter grants one vote per term, to an up-to-date log only") {
  r::config cfg;
  cfg.id = 2;
  cfg.pre_vote = false;
  r::initial_state init;
  init.snap.meta = {1, 1, {{1, 2, 3}, {}}};
  init.hard = {1, 0, 1};
  r::core c{cfg, init, [] { return uint64_t{0}; }};
  auto vote = [&](r::node_id from, uint64_t term, uint64_t li, uint64_t lt) {
    r::message m;
    m.type = r::message_type::vote;
    m.from = from;
    m.to = 2;
    m.term = term;
    m.index = li;
    m.log_term = lt;
    c.step(m);
    auto rd = c.get_ready();
    c.advance(rd);
    REQUIRE(rd.messages.size() == 1);
    return !rd.messages[0].reject;
  };
  CHECK(vote(1, 2, 1, 1));  // first come
  CHECK(!vote(3, 2, 1, 1)); // same term: already voted for 1
  CHECK(vote(1, 2, 1, 1));  // a repeated request of the same candidate
  CHECK(!vote(3, 3, 0, 0)); // newer term, but a stale log
  CHECK(c.term() == 3);
  CHECK(vote(3, 4, 1, 1));
}

TEST_CASE("a pre-vote changes neither the term nor the vote of anyone") {
  interaction env;
  env.add_nodes(3, {});
  env.run("isolate 1");
  env.run("campaign 1");
  env.stabilize();
  CHECK(env.core(1).role() == r::role::pre_candidate);
  CHECK(env.core(1).term() == 1);
  CHECK(env.core(1).vote() == r::no_node);
  CHECK(env.core(2).term() == 1);
}

TEST_CASE("limits: a leader refuses proposals beyond max_pending_proposals") {
  interaction env;
  r::config tmpl;
  tmpl.max_pending_proposals = 10;
  elect(env, 3, tmpl);
  env.run("isolate 1");
  int ok = 0;
  for (int i = 0; i < 20; ++i)
    if (env.core(1).propose("x").status == r::propose_status::ok)
      ++ok;
  CHECK(ok == 10);
  CHECK(env.core(1).propose("x").status == r::propose_status::overloaded);
}

TEST_CASE("limits: entries per message and messages in flight are bounded") {
  interaction env;
  r::config tmpl;
  tmpl.max_entries_per_msg = 4;
  tmpl.max_inflight_msgs = 3;
  elect(env, 3, tmpl);
  // One more round so that the followers are in replicate state.
  env.run("propose 1 warmup");
  env.stabilize();
  for (int i = 0; i < 100; ++i)
    env.core(1).propose("e" + std::to_string(i));
  env.mailbox().clear();
  env.process_ready(1);
  auto& ms = env.mailbox();
  CHECK(count_to(ms, 2, r::message_type::append) == 3);
  for (auto& m : ms)
    CHECK(m.entries.size() <= 4);
  // Every answer frees a slot; the group catches up.
  env.stabilize();
  CHECK(env.core(2).commit_index() == env.core(1).last_index());
}

TEST_CASE("limits: the outbox drops messages beyond max_outbox_msgs") {
  interaction env;
  r::config tmpl;
  tmpl.max_outbox_msgs = 5;
  elect(env, 3, tmpl);
  // Heartbeats pile up while nobody takes a ready batch.
  env.tick(1, 20);
  auto rd = env.core(1).get_ready();
  CHECK(rd.messages.size() == 5);
  CHECK(env.core(1).dropped_msgs() > 0);
  env.core(1).advance(rd);
}

TEST_CASE("figure 8: the checker catches a core that commits an older term's "
          "entry by counting") {
  const char* dir = std::getenv("RAFT_TESTDATA");
  REQUIRE(dir != nullptr);
  for (bool broken : {false, true}) {
    std::ifstream in{std::string{dir} + "/figure8.txt"};
    REQUIRE(in.good());
    interaction env;
    env.abort_on_violation = false;
    std::string line;
    bool expect_output = false;
    while (std::getline(in, line)) {
      if (line == "----") {
        expect_output = true;
        continue;
      }
      if (line.empty()) {
        expect_output = false;
        continue;
      }
      if (expect_output || line[0] == '#')
        continue;
      if (broken && line.rfind("add-nodes", 0) == 0)
        line += " mutation=commit_old_term";
      env.run(line);
    }
    if (broken) {
      CHECK(!env.checker().ok());
      MESSAGE("caught: " << env.checker().violation());
    } else {
      CHECK(env.checker().ok());
    }
  }
}

TEST_CASE("a candidate that counts a vote of an older term is caught as a "
          "second leader") {
  for (bool broken : {false, true}) {
    interaction env;
    env.abort_on_violation = false;
    std::string opts = broken ? " mutation=count_stale_votes" : "";
    for (auto line : {
           "add-nodes 3 pre-vote=false check-quorum=false" + opts,
           // Node 2 grants node 1 a vote in term 2; the answer is delayed.
           std::string{"campaign 1"}, std::string{"process-ready 1"},
           std::string{"drop-msgs 3"}, std::string{"deliver-msgs 2"},
           std::string{"process-ready 2"},
           // Node 1 campaigns again in term 3; its requests are lost.
           std::string{"campaign 1"}, std::string{"process-ready 1"},
           std::string{"drop-msgs 2"}, std::string{"drop-msgs 3"},
           // Node 3 wins term 3 with node 2's vote.
           std::string{"campaign 3"}, std::string{"process-ready 3"},
           std::string{"drop-msgs 2"}, std::string{"campaign 3"},
           std::string{"process-ready 3"}, std::string{"drop-msgs 1 3"},
           std::string{"deliver-msgs 2"}, std::string{"process-ready 2"},
           std::string{"deliver-msgs 3"},
           // The stale grant of term 2 finally reaches node 1.
           std::string{"deliver-msgs 1"}, std::string{"process-ready 1"}}) {
      auto out = env.run(line);
      if (std::getenv("RAFT_DEBUG"))
        MESSAGE(line << "\n" << out);
    }
    REQUIRE(env.core(3).role() == r::role::leader);
    REQUIRE(env.core(3).term() == 3);
    if (broken) {
      CHECK(!env.checker().ok());
      MESSAGE("caught: " << env.checker().violation());
    } else {
      CHECK(env.checker().ok());
      CHECK(env.core(1).role() == r::role::candidate);
    }
  }
}

TEST_CASE("leadership transfer: refused to non-voters, blocks proposals") {
  interaction env;
  elect(env, 3);
  CHECK(!env.core(1).transfer_leader(1));
  CHECK(!env.core(1).transfer_leader(9));
  CHECK(env.core(1).transfer_leader(2));
  CHECK(env.core(1).propose("x").status == r::propose_status::transferring);
  env.stabilize();
  CHECK(env.leader() == 2);
  CHECK(env.core(2).term() == 3);
}

TEST_CASE("leadership transfer: aborted after an election timeout") {
  interaction env;
  elect(env, 3);
  env.run("isolate 2");
  CHECK(env.core(1).transfer_leader(2));
  env.tick(1, 10);
  CHECK(env.core(1).transferee() == r::no_node);
  CHECK(env.core(1).propose("x").status == r::propose_status::ok);
}

TEST_CASE("read index: refused until the leader committed in its term") {
  interaction env;
  env.add_nodes(3, {});
  env.run("campaign 1");
  // Elected, but the no-op is not committed yet.
  for (int i = 0; i < 4; ++i) {
    env.process_ready(1);
    env.process_ready(2);
    env.process_ready(3);
    env.deliver(2);
    env.deliver(3);
    env.deliver(1);
  }
  REQUIRE(env.core(1).role() == r::role::leader);
  CHECK(!env.core(1).read_index(1));
  env.stabilize();
  CHECK(env.core(1).read_index(1));
  CHECK(!env.core(2).read_index(2));
}

TEST_CASE("a leader removed by a committed change steps down") {
  interaction env;
  elect(env, 3);
  // The leader refuses to remove itself...
  CHECK(env.core(1).propose_conf_change({r::conf_op::remove, 1}).status
        == r::propose_status::invalid);
  // ...but a removal proposed by an earlier leader still applies.
  env.run("transfer-leader 1 2");
  env.stabilize();
  REQUIRE(env.leader() == 2);
  CHECK(env.core(2).propose_conf_change({r::conf_op::remove, 1}).status
        == r::propose_status::ok);
  env.stabilize();
  CHECK(env.core(2).conf().voters == std::vector<r::node_id>{2, 3});
  CHECK(env.core(1).conf().voters == std::vector<r::node_id>{2, 3});
  // Node 1 no longer campaigns.
  env.tick(1, 100);
  CHECK(env.core(1).role() == r::role::follower);
}

TEST_CASE("codec: messages round-trip, malformed bytes are rejected") {
  r::message m;
  m.type = r::message_type::snapshot;
  m.from = 1;
  m.to = 2;
  m.term = 7;
  m.index = 9;
  m.log_term = 6;
  m.commit = 5;
  m.reject = true;
  m.reject_hint = 4;
  m.context = 3;
  m.entries.push_back({10, 7, r::entry_type::normal, std::string("a\0b", 3)});
  m.entries.push_back(
    {11, 7, r::entry_type::conf_change,
     r::encode_conf_change({r::conf_op::add_learner, 4})});
  m.snap = std::make_shared<const r::snapshot>(
    r::snapshot{{9, 6, {{1, 2}, {4}}}, "image"});
  auto bytes = r::encode(m);
  auto back = r::decode_message(bytes);
  REQUIRE(back.has_value());
  CHECK(back->type == m.type);
  CHECK(back->entries == m.entries);
  CHECK(back->snap->meta.conf == m.snap->meta.conf);
  CHECK(back->snap->data == "image");
  CHECK(back->reject_hint == 4);
  for (size_t n = 0; n < bytes.size(); ++n)
    CHECK(!r::decode_message(bytes.substr(0, n)).has_value());
  CHECK(!r::decode_message(bytes + "x").has_value());
  auto cc = r::decode_conf_change(m.entries[1].data);
  REQUIRE(cc.has_value());
  CHECK(cc->node == 4);
  CHECK(!r::decode_conf_change("junk").has_value());
}

TEST_CASE("codec: snapshot chunks and acks round-trip; a chunk must carry an "
          "InstallSnapshot and lie within its image") {
  r::snapshot_chunk c;
  c.header.type = r::message_type::snapshot;
  c.header.from = 1;
  c.header.to = 3;
  c.header.term = 4;
  c.header.snap = std::make_shared<const r::snapshot>(
    r::snapshot{{120, 4, {{1, 2, 3}, {}}}, ""});
  c.offset = 32;
  c.total = 100;
  c.data = std::string("chunk\0data", 10);
  auto bytes = r::encode(c);
  CHECK(static_cast<uint8_t>(bytes[0]) == r::snapshot_chunk_tag);
  CHECK(!r::decode_message(bytes).has_value());
  auto back = r::decode_snapshot_chunk(bytes);
  REQUIRE(back.has_value());
  CHECK(back->header.to == 3);
  CHECK(back->header.snap->meta.index == 120);
  CHECK(back->header.snap->meta.conf == c.header.snap->meta.conf);
  CHECK(back->offset == 32);
  CHECK(back->total == 100);
  CHECK(back->data == c.data);
  for (size_t n = 0; n < bytes.size(); ++n)
    CHECK(!r::decode_snapshot_chunk(bytes.substr(0, n)).has_value());
  CHECK(!r::decode_snapshot_chunk(bytes + "x").has_value());
  // Past the end of its image.
  auto beyond = c;
  beyond.offset = 95;
  CHECK(!r::decode_snapshot_chunk(r::encode(beyond)).has_value());
  beyond.offset = 101;
  beyond.data.clear();
  CHECK(!r::decode_snapshot_chunk(r::encode(beyond)).has_value());
  // Not an InstallSnapshot, or one with data of its own.
  auto other = c;
  other.header.type = r::message_type::append;
  CHECK(!r::decode_snapshot_chunk(r::encode(other)).has_value());
  other = c;
  other.header.snap = std::make_shared<const r::snapshot>(
    r::snapshot{{120, 4, {{1}, {}}}, "image"});
  CHECK(!r::decode_snapshot_chunk(r::encode(other)).has_value());

  r::snapshot_ack a{3, 1, 120, 4, 42, false};
  auto ab = r::encode(a);
  CHECK(static_cast<uint8_t>(ab[0]) == r::snapshot_ack_tag);
  auto aback = r::decode_snapshot_ack(ab);
  REQUIRE(aback.has_value());
  CHECK(aback->from == 3);
  CHECK(aback->next_offset == 42);
  CHECK(!aback->done);
  for (size_t n = 0; n < ab.size(); ++n)
    CHECK(!r::decode_snapshot_ack(ab.substr(0, n)).has_value());
  CHECK(!r::decode_snapshot_ack(bytes).has_value());
  CHECK(!r::decode_snapshot_chunk(ab).has_value());
}

TEST_CASE("compaction behind the applied index keeps the tail and the "
          "membership as of its point") {
  r::config cfg;
  cfg.id = 1;
  r::initial_state init;
  init.snap.meta = {1, 1, {{1}, {}}};
  init.hard = {1, r::no_node, 1};
  uint64_t seed = 7;
  r::core c{cfg, init, [&] { return ++seed; }};
  c.campaign();
  auto drain = [&] {
    while (c.has_ready()) {
      auto rd = c.get_ready();
      c.advance(rd);
    }
  };
  drain();
  REQUIRE(c.role() == r::role::leader);
  for (int i = 0; i < 5; ++i)
    REQUIRE(c.propose("e" + std::to_string(i)).status
            == r::propose_status::ok);
  drain();
  REQUIRE(c.propose_conf_change({r::conf_op::add_learner, 2}).status
          == r::propose_status::ok);
  drain();
  auto applied = c.applied_index();
  REQUIRE(applied == c.last_index());
  auto learner_at = applied;
  // Compacting before the learner's entry: the snapshot's membership has
  // no learner, and the entry stays in the log.
  c.compact(learner_at - 1, "img");
  CHECK(c.snapshot_index() == learner_at - 1);
  CHECK(c.first_index() == learner_at);
  CHECK(c.entry_at(learner_at).type == r::entry_type::conf_change);
  auto rd = c.get_ready();
  REQUIRE(rd.snap.has_value());
  CHECK(!rd.snap_install);
  CHECK(rd.snap->meta.index == learner_at - 1);
  CHECK(rd.snap->meta.conf.learners.empty());
  c.advance(rd);
  // An index at or below the snapshot changes nothing.
  c.compact(learner_at - 2, "old");
  CHECK(c.snapshot_index() == learner_at - 1);
  c.compact(learner_at, "img2");
  auto rd2 = c.get_ready();
  REQUIRE(rd2.snap.has_value());
  CHECK(rd2.snap->meta.conf.learners == std::vector<r::node_id>{2});
  c.advance(rd2);
}

TEST_CASE("restart: a core rebuilt from storage has the same term, vote and "
          "log, and re-applies its committed entries") {
  interaction env;
  elect(env, 3);
  env.run("propose 1 a");
  env.run("propose 1 b");
  env.stabilize();
  auto term = env.core(2).term();
  auto vote = env.core(2).vote();
  auto last = env.core(2).last_index();
  env.crash(2);
  env.restart(2);
  CHECK(env.core(2).term() == term);
  CHECK(env.core(2).vote() == vote);
  CHECK(env.core(2).last_index() == last);
  env.process_ready(2);
  CHECK(env.at(2).applied.back().data == "b");
}
