// The consensus actor on CAF's deterministic scheduler with a manual
// executor: no sleeps, no threads; the test decides when timers fire and
// when SQLite jobs run. Also: the SQLite storage survives a reopen.

#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <caf/all.hpp>
#include <caf/scheduler/test_coordinator.hpp>

#include "actors/executor.hpp"
#include "actors/raft/consensus_actor.hpp"
#include "actors/raft/core.hpp"
#include "actors/raft/snapshot_chunk.hpp"
#include "actors/raft/sqlite_storage.hpp"
#include "tests/temp_dir.hpp"

namespace raft = cxesdb::actors::raft;
using cxesdb::actors::manual_executor;

namespace {

using cxesdb::tests::temp_dir;


caf::actor_system_config& test_config(caf::actor_system_config& cfg) {
  cfg.set("scheduler.policy", caf::atom("testing"));
  cfg.set("logger.file-verbosity", caf::atom("quiet"));
  cfg.set("logger.console-verbosity", caf::atom("quiet"));
  return cfg;
}

/// A state machine that lives in a file, as a store's database does: the
/// data of the applied entries and the applied index. Its image is that
/// file; entries at or below its index are skipped, as a store skips what
/// its database already holds.
struct file_machine {
  uint64_t index = 0;
  std::vector<std::string> data;

  void apply(const raft::entry& e) {
    if (e.index <= index)
      return;
    index = e.index;
    if (e.type == raft::entry_type::normal && !e.data.empty())
      data.push_back(e.data);
  }

  std::string image() const {
    std::string out = std::to_string(index) + "\n";
    for (auto& d : data)
      out += d + "\n";
    return out;
  }

  void restore(const std::string& text) {
    std::istringstream in{text};
    std::string line;
    std::getline(in, line);
    index = std::stoull(line);
    data.clear();
    while (std::getline(in, line))
      data.push_back(line);
  }
};

/// Forwards raft bytes to `target`, dropping the snapshot chunk numbered
/// `drop_chunk` (counting from 0); counts the chunks it saw.
struct lossy_state {
  int chunks = 0;
  static inline const char* name = "lossy_link";
};

caf::behavior lossy_link(caf::stateful_actor<lossy_state>* self,
                         caf::actor target, int drop_chunk) {
  return {
    [=](raft::raft_msg_atom, std::string& bytes) {
      if (!bytes.empty()
          && static_cast<uint8_t>(bytes[0]) == raft::snapshot_chunk_tag
          && self->state.chunks++ == drop_chunk)
        return;
      self->send(target, raft::raft_msg_atom::value, std::move(bytes));
    },
  };
}

struct fixture {
  temp_dir dir{"cxesdb-raft"};
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
  /// With `images`, each node's state machine is a `file_machine` that
  /// travels as its file in chunks of `chunk_bytes`.
  bool images = false;
  uint64_t chunk_bytes = 16;
  /// What a leader keeps for a lagging follower (its compaction pin).
  uint64_t pin_bytes = 50;
  std::map<raft::node_id, std::shared_ptr<file_machine>> machines;

  caf::actor spawn_node(raft::node_id id, std::vector<raft::node_id> voters) {
    raft::consensus_config c;
    c.core.id = id;
    c.db_path = dir.path + "/node" + std::to_string(id) + ".db";
    c.initial_voters = std::move(voters);
    c.seed = 42;
    auto log = std::make_shared<std::vector<raft::entry>>();
    applied[id] = log;
    auto sm = std::make_shared<file_machine>();
    machines[id] = sm;
    c.apply = [log, sm](const std::vector<raft::entry>& es) {
      log->insert(log->end(), es.begin(), es.end());
      for (auto& e : es)
        sm->apply(e);
    };
    if (images) {
      c.image.dir = dir.path + "/images" + std::to_string(id);
      std::filesystem::create_directories(c.image.dir);
      c.image.make = [sm](uint64_t index, const std::string& path)
        -> std::optional<std::string> {
        if (sm->index < index)
          return std::string{"behind"};
        std::ofstream{path} << sm->image();
        return std::nullopt;
      };
      c.image.install = [sm](uint64_t index, const std::string& path)
        -> std::optional<std::string> {
        std::ifstream in{path};
        std::stringstream text;
        text << in.rdbuf();
        file_machine m;
        m.restore(text.str());
        if (m.index < index)
          return std::string{"image behind its snapshot"};
        if (m.index > sm->index)
          *sm = m;
        return std::nullopt;
      };
      c.compact_keep_entries = 2;
      c.snapshot_chunk_bytes = chunk_bytes;
      c.compact_pin_bytes_max = pin_bytes;
    }
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
  temp_dir dir{"cxesdb-raft"};
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

namespace {

/// Isolates node `id` from the others (both directions).
void isolate(fixture& f, raft::node_id id) {
  for (auto& [other, a] : f.actors) {
    if (other == id)
      continue;
    caf::anon_send(a, raft::peers_atom::value, uint64_t{id}, caf::actor{});
    caf::anon_send(f.actors.at(id), raft::peers_atom::value, uint64_t{other},
                   caf::actor{});
  }
  f.drive();
}

/// Three nodes with image state machines; node 3 misses 30 commands while
/// the leader and node 2 compact (past them, unless the leader's pin keeps
/// them for node 3).
raft::node_id leave_node3_behind(fixture& f, bool pinned = false) {
  f.images = true;
  for (raft::node_id id = 1; id <= 3; ++id)
    f.spawn_node(id, {1, 2, 3});
  f.connect_all();
  auto l = f.tick_until_leader(100);
  REQUIRE(l != raft::no_node);
  if (l == 3) {
    REQUIRE(f.propose(3, "warm") == 0);
    caf::anon_send(f.actors.at(3), raft::transfer_atom::value, uint64_t{1});
    f.drive();
    for (int t = 0; t < 30 && f.leader() != 1; ++t)
      f.tick();
    l = f.leader();
    REQUIRE(l == 1);
  }
  isolate(f, 3);
  for (int i = 0; i < 30; ++i)
    REQUIRE(f.propose(l, "cmd" + std::to_string(i))
            == static_cast<uint64_t>(raft::propose_status::ok));
  f.tick();
  // The state machines say what is durable; the log is compacted behind
  // it, keeping two entries.
  for (raft::node_id id : {raft::node_id{1}, raft::node_id{2}})
    caf::anon_send(f.actors.at(id), raft::compact_atom::value,
                   f.machines.at(id)->index);
  f.tick();
  auto& lc = *f.state(l).core;
  if (pinned) {
    // The leader kept everything node 3 has not matched; node 2 compacted.
    CHECK(lc.snapshot_index() <= f.state(3).core->last_index());
    CHECK(lc.snapshot_index() + 30 <= f.machines.at(l)->index);
    CHECK(f.state(2).core->snapshot_index() + 2 == f.machines.at(2)->index);
  } else {
    CHECK(lc.snapshot_index() + 2 == f.machines.at(l)->index);
    CHECK(f.machines.at(3)->index < lc.snapshot_index());
  }
  return l;
}

bool same_machines(fixture& f) {
  auto& a = *f.machines.at(1);
  for (raft::node_id id : {raft::node_id{2}, raft::node_id{3}}) {
    auto& b = *f.machines.at(id);
    if (a.index != b.index || a.data != b.data)
      return false;
  }
  return true;
}

} // namespace

TEST_CASE("consensus actors: a follower behind the compacted log installs "
          "the leader's image, sent in chunks, then follows the log") {
  fixture f;
  auto l = leave_node3_behind(f);
  f.connect_all();
  for (int t = 0; t < 40 && !same_machines(f); ++t)
    f.tick();
  CHECK(same_machines(f));
  CHECK(f.state(l).images_sent == 1);
  CHECK(f.state(3).images_installed == 1);
  CHECK(f.state(l).images_out.empty());
  // The image took many chunks of 16 bytes.
  CHECK(f.machines.at(1)->image().size() > 10 * f.chunk_bytes);
  // The log goes on after the snapshot on every node.
  REQUIRE(f.propose(l, "after") == 0);
  for (int t = 0; t < 10 && !f.applied_everywhere("after", {1, 2, 3}); ++t)
    f.tick();
  CHECK(f.applied_everywhere("after", {1, 2, 3}));
  CHECK(same_machines(f));
  // No image file stays behind on the follower.
  CHECK(!std::filesystem::exists(f.dir.path + "/images3/snapshot-in.part"));
}

TEST_CASE("consensus actors: a lost chunk resumes the transfer at the "
          "follower's offset, not from the start") {
  fixture f;
  auto l = leave_node3_behind(f);
  f.connect_all();
  // The leader reaches node 3 through a link that loses the fourth chunk.
  auto link = f.sys.spawn(lossy_link, f.actors.at(3), 3);
  caf::anon_send(f.actors.at(l), raft::peers_atom::value, uint64_t{3}, link);
  f.drive();
  for (int t = 0; t < 60 && !same_machines(f); ++t)
    f.tick();
  CHECK(same_machines(f));
  CHECK(f.state(3).images_installed == 1);
  auto size = f.machines.at(l)->image().size();
  auto chunks = static_cast<int>((size + f.chunk_bytes - 1) / f.chunk_bytes);
  // Every chunk once, and the lost one twice.
  auto& link_state
    = dynamic_cast<caf::stateful_actor<lossy_state>&>(
        *caf::actor_cast<caf::abstract_actor*>(link))
        .state;
  CHECK(link_state.chunks == chunks + 1);
  caf::anon_send_exit(link, caf::exit_reason::user_shutdown);
}

TEST_CASE("consensus actors: a leader keeps the entries a lagging follower "
          "has not matched, within its pin, so it catches up from the log") {
  fixture f;
  f.pin_bytes = 1u << 20;
  auto l = leave_node3_behind(f, true);
  f.connect_all();
  for (int t = 0; t < 40 && !same_machines(f); ++t)
    f.tick();
  CHECK(same_machines(f));
  CHECK(f.state(l).images_sent == 0);
  CHECK(f.state(3).images_installed == 0);
  // Once node 3 has matched, the next compaction goes past what it had.
  auto before = f.state(l).core->snapshot_index();
  REQUIRE(f.propose(l, "more") == 0);
  f.tick();
  caf::anon_send(f.actors.at(l), raft::compact_atom::value,
                 f.machines.at(l)->index);
  f.tick();
  CHECK(f.state(l).core->snapshot_index() > before);
}
