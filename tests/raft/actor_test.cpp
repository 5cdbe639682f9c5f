// The consensus actor on CAF's deterministic scheduler with a manual
// executor: no sleeps, no threads; the test decides when timers fire and
// when SQLite jobs run. Also: the SQLite storage survives a reopen.

#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <caf/all.hpp>
#include <caf/scheduler/test_coordinator.hpp>

#include "actors/executor.hpp"
#include "actors/raft/consensus_actor.hpp"
#include "actors/raft/core.hpp"
#include "actors/raft/sqlite_storage.hpp"

namespace raft = cxesdb::actors::raft;
using cxesdb::actors::manual_executor;

namespace {

/// A temporary directory removed at the end of the test.
struct temp_dir {
  std::string path;
  temp_dir() {
    char tmpl[] = "/tmp/cxesdb-raft-XXXXXX";
    auto p = mkdtemp(tmpl);
    REQUIRE(p != nullptr);
    path = p;
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

caf::actor_system_config& test_config(caf::actor_system_config& cfg) {
  cfg.set("scheduler.policy", caf::atom("testing"));
  cfg.set("logger.file-verbosity", caf::atom("quiet"));
  cfg.set("logger.console-verbosity", caf::atom("quiet"));
  return cfg;
}

struct fixture {
  temp_dir dir;
  caf::actor_system_config cfg;
  caf::actor_system sys{test_config(cfg)};
  caf::scheduler::test_coordinator& sched
    = dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler());
  manual_executor exec;
  std::map<raft::node_id, caf::actor> actors;
  std::map<raft::node_id, std::shared_ptr<std::vector<raft::entry>>> applied;

  ~fixture() {
    for (auto& [id, a] : actors)
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    drive();
  }

  uint64_t compact_every = 0;

  caf::actor spawn_node(raft::node_id id, std::vector<raft::node_id> voters) {
    raft::consensus_config c;
    c.core.id = id;
    c.db_path = dir.path + "/node" + std::to_string(id) + ".db";
    c.initial_voters = std::move(voters);
    c.seed = 42;
    auto log = std::make_shared<std::vector<raft::entry>>();
    applied[id] = log;
    c.apply = [log](const std::vector<raft::entry>& es) {
      log->insert(log->end(), es.begin(), es.end());
    };
    if (compact_every > 0) {
      c.compact_every_entries = compact_every;
      c.take_snapshot = [log] { return std::to_string(log->size()); };
    }
    auto a = sys.spawn(raft::consensus_actor, c, &exec,
                       std::map<raft::node_id, caf::actor>{});
    actors[id] = a;
    return a;
  }

  void connect_all() {
    for (auto& [i, a] : actors)
      for (auto& [j, b] : actors)
        if (i != j)
          caf::anon_send(a, raft::peers_atom::value, uint64_t{j}, b);
    drive();
  }

  /// Runs actors and executor jobs until both are idle.
  void drive() {
    for (int i = 0; i < 100000; ++i) {
      auto n = sched.run();
      auto j = exec.run_all();
      if (n == 0 && j == 0)
        return;
    }
    FAIL("drive does not converge");
  }

  /// Fires every pending timer once (one tick per actor), then drives.
  void tick() {
    sched.trigger_timeouts();
    drive();
  }

  raft::consensus_state& state(raft::node_id id) {
    auto ptr = caf::actor_cast<caf::abstract_actor*>(actors.at(id));
    return dynamic_cast<caf::stateful_actor<raft::consensus_state>&>(*ptr)
      .state;
  }

  raft::node_id leader() {
    raft::node_id best = raft::no_node;
    uint64_t term = 0;
    for (auto& [id, a] : actors) {
      auto& st = state(id);
      if (st.core && st.core->role() == raft::role::leader
          && st.core->term() >= term) {
        best = id;
        term = st.core->term();
      }
    }
    return best;
  }

  raft::node_id tick_until_leader(uint64_t max_ticks) {
    for (uint64_t t = 0; t < max_ticks; ++t) {
      if (auto l = leader(); l != raft::no_node)
        return l;
      tick();
    }
    return leader();
  }

  bool applied_everywhere(const std::string& data,
                          const std::vector<raft::node_id>& ids) {
    for (auto id : ids) {
      bool found = false;
      for (auto& e : *applied.at(id))
        found = found || e.data == data;
      if (!found)
        return false;
    }
    return true;
  }

  /// Proposes through the actor's message interface; returns the status.
  uint64_t propose(raft::node_id to, const std::string& data) {
    caf::scoped_actor self{sys};
    self->send(actors.at(to), raft::propose_atom::value, data);
    drive();
    uint64_t status = 99;
    self->receive(
      [&](uint64_t s, uint64_t, uint64_t, uint64_t) { status = s; },
      caf::after(std::chrono::seconds(0)) >> [] {});
    return status;
  }
};

} // namespace

TEST_CASE("consensus actors: election, replication, a stopped leader, a new "
          "election") {
  fixture f;
  for (raft::node_id id = 1; id <= 3; ++id)
    f.spawn_node(id, {1, 2, 3});
  f.connect_all();
  for (raft::node_id id = 1; id <= 3; ++id)
    REQUIRE(f.state(id).core != nullptr);
  auto l1 = f.tick_until_leader(100);
  REQUIRE(l1 != raft::no_node);
  auto term1 = f.state(l1).core->term();
  CHECK(f.propose(l1, "first")
        == static_cast<uint64_t>(raft::propose_status::ok));
  for (int t = 0; t < 10 && !f.applied_everywhere("first", {1, 2, 3}); ++t)
    f.tick();
  CHECK(f.applied_everywhere("first", {1, 2, 3}));
  // A follower refuses proposals.
  auto follower = l1 == 1 ? 2 : 1;
  CHECK(f.propose(follower, "nope")
        == static_cast<uint64_t>(raft::propose_status::not_leader));
  // Stop the leader; the other two elect a new one at a higher term.
  caf::anon_send_exit(f.actors.at(l1), caf::exit_reason::kill);
  f.drive();
  f.actors.erase(l1);
  auto l2 = f.tick_until_leader(200);
  REQUIRE(l2 != raft::no_node);
  CHECK(l2 != l1);
  CHECK(f.state(l2).core->term() > term1);
  std::vector<raft::node_id> rest;
  for (auto& [id, a] : f.actors)
    rest.push_back(id);
  CHECK(f.propose(l2, "second")
        == static_cast<uint64_t>(raft::propose_status::ok));
  for (int t = 0; t < 10 && !f.applied_everywhere("second", rest); ++t)
    f.tick();
  CHECK(f.applied_everywhere("second", rest));
}

TEST_CASE("consensus actor: proposals during a persist share the next batch") {
  fixture f;
  f.spawn_node(1, {1});
  f.drive();
  REQUIRE(f.tick_until_leader(50) == 1);
  f.drive();
  auto before = f.state(1).persists;
  caf::scoped_actor self{f.sys};
  for (int i = 0; i < 20; ++i)
    self->send(f.actors.at(1), raft::propose_atom::value,
               "cmd" + std::to_string(i));
  // All 20 arrive before any SQLite job runs: the first starts a persist,
  // the other 19 wait for it and go into one more.
  f.sched.run();
  f.drive();
  auto batches = f.state(1).persists - before;
  MESSAGE("20 proposals persisted in " << batches << " batches");
  CHECK(batches >= 1);
  CHECK(batches <= 3);
  CHECK(f.applied_everywhere("cmd19", {1}));
}

TEST_CASE("consensus actor: a read index is answered after a quorum round") {
  fixture f;
  for (raft::node_id id = 1; id <= 3; ++id)
    f.spawn_node(id, {1, 2, 3});
  f.connect_all();
  auto l = f.tick_until_leader(100);
  REQUIRE(l != raft::no_node);
  for (int t = 0; t < 5; ++t)
    f.tick();
  caf::scoped_actor self{f.sys};
  self->send(f.actors.at(l), raft::read_index_atom::value);
  f.drive();
  uint64_t index = 0;
  self->receive([&](uint64_t i) { index = i; },
                caf::after(std::chrono::seconds(0)) >> [] {});
  CHECK(index == f.state(l).core->commit_index());
}

TEST_CASE("sqlite storage: a reopened database resumes term, vote and log") {
  temp_dir dir;
  auto path = dir.path + "/raft.db";
  raft::hard_state hs;
  std::vector<raft::entry> log;
  {
    std::string err;
    auto s = raft::sqlite_storage::open(path, err);
    REQUIRE_MESSAGE(s != nullptr, err);
    CHECK(s->empty());
    raft::ready boot;
    boot.snap = raft::snapshot{};
    boot.snap->meta = {1, 1, {{7}, {}}};
    boot.snap_install = true;
    boot.hard = raft::hard_state{1, 0, 1};
    REQUIRE(!s->save(boot));
    raft::initial_state init;
    REQUIRE(!s->load(init));
    raft::config cfg;
    cfg.id = 7;
    raft::core c{cfg, init, [] { return uint64_t{3}; }};
    c.campaign();
    for (int i = 0; i < 5; ++i) {
      while (c.has_ready()) {
        auto rd = c.get_ready();
        REQUIRE(!s->save(rd));
        c.advance(rd);
      }
      REQUIRE(c.propose("entry" + std::to_string(i)).status
              == raft::propose_status::ok);
    }
    while (c.has_ready()) {
      auto rd = c.get_ready();
      REQUIRE(!s->save(rd));
      c.advance(rd);
    }
    hs = {c.term(), c.vote(), c.commit_index()};
    for (auto i = c.first_index(); i <= c.last_index(); ++i)
      log.push_back(c.entry_at(i));
    CHECK(log.size() == 6); // no-op + 5 entries
  }
  std::string err;
  auto s = raft::sqlite_storage::open(path, err);
  REQUIRE(s != nullptr);
  raft::initial_state init;
  REQUIRE(!s->load(init));
  raft::config cfg;
  cfg.id = 7;
  raft::core c{cfg, init, [] { return uint64_t{3}; }};
  CHECK(c.term() == hs.term);
  CHECK(c.vote() == hs.vote);
  CHECK(c.vote() == 7);
  CHECK(c.commit_index() == hs.commit);
  REQUIRE(c.last_index() == log.back().index);
  for (auto& e : log)
    CHECK(c.entry_at(e.index) == e);
  CHECK(init.snap.meta.conf.voters == std::vector<raft::node_id>{7});
}

TEST_CASE("consensus actor: a restarted actor resumes from its database") {
  temp_dir keep;
  uint64_t term = 0;
  uint64_t last = 0;
  std::string db;
  {
    fixture f;
    db = f.dir.path; // removed with f; copy the file first
    f.spawn_node(1, {1});
    f.drive();
    REQUIRE(f.tick_until_leader(50) == 1);
    CHECK(f.propose(1, "persisted")
          == static_cast<uint64_t>(raft::propose_status::ok));
    f.drive();
    term = f.state(1).core->term();
    last = f.state(1).core->last_index();
    REQUIRE(f.state(1).core->entry_at(last).data == "persisted");
    caf::anon_send_exit(f.actors.at(1), caf::exit_reason::kill);
    f.drive();
    f.actors.clear();
    std::filesystem::copy(f.dir.path, keep.path,
                          std::filesystem::copy_options::recursive
                            | std::filesystem::copy_options::overwrite_existing);
  }
  fixture g;
  std::filesystem::copy(keep.path, g.dir.path,
                        std::filesystem::copy_options::recursive
                          | std::filesystem::copy_options::overwrite_existing);
  g.spawn_node(1, {1});
  g.drive();
  auto& st = g.state(1);
  REQUIRE(st.core != nullptr);
  // It holds the persisted log. As the only voter it campaigned as soon as
  // it was loaded: it leads the next term and appended that term's no-op.
  CHECK(st.core->term() == term + 1);
  CHECK(st.core->vote() == 1);
  CHECK(st.core->last_index() == last + 1);
  CHECK(st.core->term_at(last) == term);
  CHECK(st.core->entry_at(last).data == "persisted");
  // It re-applies its committed log to the (new) state machine.
  REQUIRE(g.tick_until_leader(50) == 1);
  g.drive();
  CHECK(g.applied_everywhere("persisted", {1}));
}

TEST_CASE("consensus actor: the log is compacted into snapshots") {
  fixture f;
  f.compact_every = 5;
  f.spawn_node(1, {1});
  f.drive();
  REQUIRE(f.tick_until_leader(50) == 1);
  for (int i = 0; i < 12; ++i)
    CHECK(f.propose(1, "c" + std::to_string(i))
          == static_cast<uint64_t>(raft::propose_status::ok));
  f.tick();
  auto& c = *f.state(1).core;
  CHECK(c.snapshot_index() >= 10);
  CHECK(c.last_index() - c.snapshot_index() < 5);
  raft::initial_state init;
  std::string err;
  auto s = raft::sqlite_storage::open(f.dir.path + "/node1.db", err);
  REQUIRE(s != nullptr);
  REQUIRE(!s->load(init));
  CHECK(init.snap.meta.index == c.snapshot_index());
  CHECK(init.snap.meta.index + init.entries.size() == c.last_index());
}
