// The store's replicated writer and its reader on the deterministic
// scheduler: group commit through Raft, bounded queues, an IO queue that
// refuses work, linearizable reads, a replica that is not the leader, and
// the one-for-all supervisor restarting the group (which replays its Raft
// log).
//
// Every replica here is the only voter of its group unless a test says
// otherwise: it elects itself as soon as its Raft storage is loaded and
// commits a no-op of its term, so the state machine's applied index starts
// at 2 (the bootstrap snapshot is index 1).

#include <doctest/doctest.h>

#include <utility>
#include <vector>

#include "caf/event_based_actor.hpp"
#include "caf/send.hpp"

#include "actors/raft/consensus_actor.hpp"
#include "actors/supervisor.hpp"
#include "actors/type_ids.hpp"
#include "stores/catalog.hpp"
#include "stores/local_leaders.hpp"
#include "stores/messages.hpp"
#include "stores/store_group.hpp"
#include "stores/subscriptions.hpp"
#include "tests/actor/fixture.hpp"

using namespace cxesdb;
using namespace cxesdb::stores;
using actors::read_atom_v;
using actors::wire_atom_v;
using actors::write_atom_v;
namespace raft = cxesdb::actors::raft;

namespace {

command append(const std::string& stream, int i) {
  char id[40];
  std::snprintf(id, sizeof(id), "00000000-0000-7000-8000-%012d", i);
  return append_cmd{stream,
                    {expected_version::any, -1},
                    {{id, "T", "{}", "null", "application/json"}},
                    1};
}

query version_of(const std::string& stream) {
  return query{stream_version_query{stream}};
}

struct group_fixture : tests::actor_fixture {
  tests::temp_dir dir{"cxesdb-actor"};
  std::shared_ptr<store_files> files{
    store_files::open("s", dir.path, store_files::readers_default)};
  /// Actors to stop at the end (the writer and its consensus actor hold
  /// each other and a pending tick: they never stop by themselves).
  std::vector<caf::actor> spawned;

  /// The apply transactions `step` saw, as the first and last log index
  /// each one applied (from the state machine's applied index).
  std::vector<std::pair<uint64_t, uint64_t>> applies;
  /// IO jobs `step` ran: apply transactions and Raft persists (the tests
  /// that count them issue no reads meanwhile).
  size_t jobs_run = 0;

  ~group_fixture() {
    stop_all(exec);
  }

  void stop_all(actors::manual_executor& io) {
    for (auto& a : spawned)
      self->send_exit(a, caf::exit_reason::user_shutdown);
    spawned.clear();
    settle(io);
  }

  /// Spawns a writer and a reader wired to it (as the store manager wires
  /// them) and settles: with a single-voter replica the writer is the
  /// leader afterwards.
  caf::actor start_writer(store_group_limits limits = {},
                          replica_config replica = single_voter(),
                          actors::manual_executor* io = nullptr) {
    auto& x = io != nullptr ? *io : exec;
    auto writer = spawn_store_writer(sys, files, x, limits, replica);
    auto reader = spawn_store_reader(sys, files, x, limits);
    self->send(writer, wire_atom_v, caf::actor{}, reader);
    spawned.push_back(writer);
    spawned.push_back(reader);
    settle(x);
    return writer;
  }

  /// Sends a write; its answer lands in `self`'s mailbox.
  void write(const caf::actor& writer, command cmd) {
    self->send(writer, write_atom_v, std::move(cmd));
  }

  void read(const caf::actor& writer, query q) {
    self->send(writer, read_atom_v, std::move(q));
  }

  /// Runs the oldest IO job and then the messages it caused; records an
  /// apply transaction when the job moved the state machine's applied
  /// index. False when no job was queued.
  bool step() {
    auto before = files->machine->applied_index();
    if (!exec.run_once())
      return false;
    ++jobs_run;
    auto after = files->machine->applied_index();
    if (after != before)
      applies.emplace_back(before + 1, after);
    sched.run();
    return true;
  }

  /// `settle`, one job at a time through `step`.
  void drain() {
    sched.run();
    while (step()) {
    }
  }

  /// Takes one answer (a command_result or a query_result) from `self`'s
  /// mailbox.
  template <class Result>
  Result take() {
    Result out;
    bool got = false;
    self->receive([&](Result& r) {
      out = r;
      got = true;
    },
    [&](caf::error& e) {
      FAIL("unexpected error " << sys.render(e));
    },
    caf::after(std::chrono::seconds(0)) >> [] {});
    REQUIRE(got);
    return out;
  }

  /// Takes one answer to a write from `self`'s mailbox.
  command_result take_result() {
    return take<command_result>();
  }

  /// Takes one answer to a read from `self`'s mailbox.
  query_result take_query() {
    return take<query_result>();
  }

  caf::error take_error() {
    caf::error out;
    self->receive([&](caf::error& e) { out = e; },
                  [&](command_result&) { FAIL("expected an error"); },
                  [&](query_result&) { FAIL("expected an error"); },
                  caf::after(std::chrono::seconds(0)) >> [] {});
    REQUIRE(out);
    return out;
  }

  /// True when no answer (result or error) waits in `self`'s mailbox.
  bool no_answer() {
    bool got = false;
    self->receive([&](command_result&) { got = true; },
                  [&](query_result&) { got = true; },
                  [&](caf::error&) { got = true; },
                  caf::after(std::chrono::seconds(0)) >> [] {});
    return !got;
  }

  static bool is(const caf::error& err, errc code) {
    return err.category() == caf::atom("cxesdb")
           && static_cast<errc>(err.code()) == code;
  }
};

} // namespace

// Group commit: the consensus actor persists one Raft batch at a time and
// the writer runs one apply transaction at a time; what arrives meanwhile
// waits and goes into the next one. Asserted through what a user sees (the
// answers) and through the state machine's applied index after each IO job:
// a job that moved it is an apply transaction, every other job here is a
// Raft persist (there are no reads).
TEST_CASE_FIXTURE(group_fixture,
                  "commands that arrive during a persist share the next "
                  "persist and the next transaction") {
  auto writer = start_writer();
  REQUIRE(status(writer).role == raft::role::leader);
  auto base = files->machine->applied_index(); // the leader's no-op
  REQUIRE(base == 2);
  write(writer, append("s", 1));
  sched.run();
  REQUIRE(exec.queued() == 1); // the persist of the first command
  for (int i = 2; i <= 6; ++i)
    write(writer, append("s", i));
  sched.run();
  CHECK(exec.queued() == 1); // one persist at a time: the five wait
  drain();
  for (int v = 0; v <= 5; ++v)
    CHECK(take_result().version == v);
  // Two transactions: the first command alone (it started the pipeline),
  // then the five that arrived during its persist, together.
  CHECK(applies
        == std::vector<std::pair<uint64_t, uint64_t>>{{base + 1, base + 1},
                                                      {base + 2, base + 6}});
  // Raft persists: the first entry; its commit with the five entries; their
  // commit. One persist per command would be at least six.
  auto persists = jobs_run - applies.size();
  CHECK(persists <= 3);
  CHECK(files->machine->applied_index() == base + 6);
  CHECK(files->machine->next_position() == 6);
}

TEST_CASE_FIXTURE(group_fixture, "a transaction takes at most the batch bound") {
  store_group_limits limits;
  limits.batch_commands_max = 2;
  auto writer = start_writer(limits);
  for (int i = 1; i <= 5; ++i)
    write(writer, append("s", i));
  drain();
  for (int v = 0; v < 5; ++v)
    CHECK(take_result().version == v);
  // Five commands in transactions of at most two; the five arrived before
  // the first persist ran, so the four behind the first one are committed
  // together and split by the bound: 1, 2, 2.
  uint64_t total = 0;
  bool full = false;
  for (auto& [first, last] : applies) {
    CHECK(last - first + 1 <= 2);
    full = full || last - first + 1 == 2;
    total += last - first + 1;
  }
  CHECK(total == 5);
  CHECK(full);
  CHECK(applies.size() == 3);
}

// The bound counts commands proposed and not yet applied; beyond it the
// writer answers at once, before proposing: nothing of a refused command is
// written.
TEST_CASE_FIXTURE(group_fixture, "a full write queue answers overloaded") {
  store_group_limits limits;
  limits.write_queue_max = 2;
  auto writer = start_writer(limits);
  for (int i = 1; i <= 4; ++i)
    write(writer, append("s", i));
  sched.run();
  CHECK(is(take_error(), errc::overloaded));
  CHECK(is(take_error(), errc::overloaded));
  settle();
  CHECK(take_result().version == 0);
  CHECK(take_result().version == 1);
  CHECK(no_answer());
  CHECK(files->machine->next_position() == 2); // the refused two: nothing
  // Applied, the two leave the queue: the next write is taken.
  write(writer, append("s", 5));
  settle();
  CHECK(take_result().version == 2);
}

// The consensus actor hands each persist to the IO queue with try_submit;
// when the queue is full it keeps the batch and tries again on its next
// tick. Proposals that arrive meanwhile join the batch, and their answers
// wait: nothing is refused or lost.
TEST_CASE_FIXTURE(group_fixture,
                  "a refused persist is retried on the next tick") {
  actors::manual_executor io{1};
  auto writer = start_writer({}, single_voter(), &io);
  REQUIRE(status(writer).role == raft::role::leader);
  io.submit([] {}); // another store's job fills the IO queue
  write(writer, append("s", 1));
  write(writer, append("s", 2));
  sched.run();
  CHECK(io.queued() == 1); // the persist was refused
  CHECK(no_answer());
  // A tick while the queue is still full: refused again, still waiting.
  sched.advance_time(std::chrono::milliseconds{tick_ms});
  sched.run();
  CHECK(io.queued() == 1);
  CHECK(no_answer());
  io.run_once(); // the other job is done: room again
  sched.run();
  CHECK(io.queued() == 0); // the retry waits for the tick
  tick(io);
  // The first command's persist went through and it applied. Its apply job
  // took the queue's one place before the second command's persist (the
  // writer runs the consensus and applies at once), so that persist was
  // refused in turn and waits for the next tick.
  CHECK(take_result().version == 0);
  CHECK(no_answer());
  tick(io);
  CHECK(take_result().version == 1);
  CHECK(status(writer).applied == 4);
  stop_all(io);
}

TEST_CASE_FIXTURE(group_fixture, "reads use every read connection, then queue") {
  auto writer = start_writer();
  write(writer, append("s", 1));
  settle();
  take_result();
  auto reader = spawn_store_reader(sys, files, exec, store_group_limits{});
  spawned.push_back(reader);
  for (int i = 0; i < 3; ++i)
    self->send(reader, read_atom_v, version_of("s"));
  sched.run();
  CHECK(exec.queued() == store_files::readers_default); // the third waits
  settle();
  for (int i = 0; i < 3; ++i)
    CHECK(take_query().version == 0);
}

// A read through the writer gets a read index (the commit index once the
// leader knows it still leads) and is served by the reader only once the
// state machine applied that index: it sees every write acknowledged before
// it, even when the write's entry is committed and its apply transaction
// has not run yet.
TEST_CASE_FIXTURE(group_fixture,
                  "a read waits until what was committed before it is applied") {
  auto writer = start_writer();
  write(writer, append("s", 1));
  settle();
  CHECK(take_result().version == 0);
  read(writer, version_of("s"));
  settle();
  CHECK(take_query().version == 0); // acknowledged, then read: seen
  write(writer, append("s", 2));
  sched.run();
  auto index = status(writer).last_index;
  // Persist the entry and its commit; the apply transaction gets queued.
  for (int i = 0; i < 10 && status(writer).applied < index; ++i)
    REQUIRE(step());
  REQUIRE(status(writer).commit >= index);
  REQUIRE(files->machine->applied_index() == index - 1);
  REQUIRE(exec.queued() == 1); // the apply transaction, not run yet
  read(writer, version_of("s"));
  sched.run();
  CHECK(no_answer());          // the read waits for the state machine
  CHECK(exec.queued() == 1);   // and no read job was started
  settle();
  CHECK(take_result().version == 1);
  CHECK(take_query().version == 1);
}

// A replica of a two-voter group whose peer never answers campaigns and
// never wins. It refuses writes and reads with not_leader (the router's cue
// to try the leader) and writes nothing.
TEST_CASE_FIXTURE(group_fixture, "a replica that is not the leader refuses") {
  replica_config replica;
  replica.node = 1;
  replica.group = "s";
  replica.initial_voters = {1, 2};
  replica.tick_interval_ms = tick_ms;
  auto writer = start_writer({}, replica);
  tick(50); // several election timeouts: it campaigns, nobody answers
  auto gs = status(writer);
  CHECK(gs.role != raft::role::leader);
  CHECK(gs.leader == raft::no_node);
  write(writer, append("s", 1));
  settle();
  CHECK(is(take_error(), errc::not_leader));
  read(writer, version_of("s"));
  settle();
  CHECK(is(take_error(), errc::not_leader));
  tick(5);
  CHECK(no_answer());
  CHECK(files->machine->applied_index() == 0);
  CHECK(files->machine->next_position() == 0);
  CHECK(status(writer).last_index == 1); // the bootstrap snapshot only
}

// -- supervisor -----------------------------------------------------------------

namespace {

caf::behavior crashy(caf::event_based_actor* self) {
  return {
    [self](caf::ok_atom) { self->quit(caf::sec::runtime_error); },
    [](caf::get_atom) { return 42; },
  };
}

} // namespace

TEST_CASE_FIXTURE(tests::actor_fixture,
                  "a supervisor restarts all children when one fails") {
  actors::supervisor_config cfg;
  cfg.restart_max = 2;
  cfg.restart_window = std::chrono::milliseconds{100000};
  for (int i = 0; i < 2; ++i)
    cfg.children.emplace_back(
      [](caf::actor_system& s) { return s.spawn(crashy); });
  auto observer = caf::actor_cast<caf::actor>(self);
  auto sup = actors::spawn_supervisor(sys, cfg, observer);
  sched.run();
  std::vector<caf::actor> first;
  self->receive([&](actors::children_atom, std::vector<caf::actor>& kids) {
    first = kids;
  });
  REQUIRE(first.size() == 2);
  // The second child fails: both are replaced.
  self->send(first[1], caf::ok_atom_v);
  sched.run();
  std::vector<caf::actor> second;
  self->receive([&](actors::children_atom, std::vector<caf::actor>& kids) {
    second = kids;
  });
  REQUIRE(second.size() == 2);
  CHECK(second[0] != first[0]);
  CHECK(second[1] != first[1]);
  // Within the window, the third failure exceeds restart_max = 2.
  self->send(second[0], caf::ok_atom_v);
  sched.run();
  std::vector<caf::actor> third;
  self->receive([&](actors::children_atom, std::vector<caf::actor>& kids) {
    third = kids;
  });
  REQUIRE(third.size() == 2);
  self->send(third[0], caf::ok_atom_v);
  sched.run();
  bool gave_up = false;
  self->receive([&](actors::gave_up_atom) { gave_up = true; },
                caf::after(std::chrono::seconds(0)) >> [] {});
  CHECK(gave_up);
}

// The store's group under its supervisor: the writer crashes, the whole
// group is replaced, and the new consensus actor replays the Raft log from
// raft.db. The state machine already holds every replayed entry, so the
// replay's transaction skips them all: the only entry applied after the
// restart is the no-op of the new leader's term, and no event is written
// twice. Acknowledged writes stay readable and new writes go on.
TEST_CASE_FIXTURE(group_fixture,
                  "a restarted group replays its log without applying twice") {
  auto sup = spawn_store_group(sys, files, exec, store_group_limits{},
                               subscription_limits{}, single_voter(),
                               caf::actor_cast<caf::actor>(self));
  spawned.push_back(sup);
  auto children = [&] {
    std::vector<caf::actor> kids;
    self->receive([&](actors::children_atom, std::vector<caf::actor>& xs) {
      kids = xs;
    },
    caf::after(std::chrono::seconds(0)) >> [] {});
    REQUIRE(kids.size() == 3); // writer, reader, hub
    // As the store manager does after each (re)start.
    self->send(kids[0], wire_atom_v, kids[2], kids[1]);
    sched.run();
    return kids;
  };
  settle();
  auto first = children();
  settle();
  REQUIRE(status(first[0]).role == raft::role::leader);
  for (int i = 1; i <= 3; ++i)
    write(first[0], append("s", i));
  settle();
  for (int v = 0; v < 3; ++v)
    CHECK(take_result().version == v);
  auto applied = files->machine->applied_index();
  auto events = files->machine->next_position();
  auto term = status(first[0]).term;
  REQUIRE(events == 3);
  // The writer dies (its consensus actor, a linked child, with it).
  self->send_exit(first[0], caf::exit_reason::kill);
  applies.clear();
  drain();
  auto second = children();
  CHECK(second[0] != first[0]);
  CHECK(second[1] != first[1]);
  CHECK(second[2] != first[2]);
  drain();
  auto gs = status(second[0]);
  CHECK(gs.role == raft::role::leader);
  CHECK(gs.term > term);
  CHECK(gs.applied == applied + 1);
  // One transaction wrote since the restart: the new term's no-op. The
  // replayed entries were all skipped.
  CHECK(applies
        == std::vector<std::pair<uint64_t, uint64_t>>{{applied + 1,
                                                       applied + 1}});
  CHECK(files->machine->applied_index() == applied + 1);
  CHECK(files->machine->next_position() == events);
  read(second[0], version_of("s"));
  settle();
  CHECK(take_query().version == 2);
  write(second[0], append("s", 4));
  settle();
  CHECK(take_result().version == 3);
  CHECK(files->machine->next_position() == events + 1);
}

// A replay longer than one transaction: the new writer gets the log's
// committed entries again and applies them in batches of at most
// batch_commands_max, each of which the state machine already holds.
TEST_CASE_FIXTURE(group_fixture,
                  "a replay longer than the batch bound skips every batch") {
  store_group_limits limits;
  limits.batch_commands_max = 2;
  auto writer = start_writer(limits);
  for (int i = 1; i <= 5; ++i)
    write(writer, append("s", i));
  settle();
  for (int v = 0; v < 5; ++v)
    CHECK(take_result().version == v);
  auto applied = files->machine->applied_index();
  stop_all(exec); // the writer stops; its consensus actor with it
  applies.clear();
  auto again = spawn_store_writer(sys, files, exec, limits, single_voter());
  spawned.push_back(again);
  drain();
  CHECK(status(again).role == raft::role::leader);
  CHECK(applies
        == std::vector<std::pair<uint64_t, uint64_t>>{{applied + 1,
                                                       applied + 1}});
  CHECK(files->machine->next_position() == 5);
  write(again, append("s", 6));
  settle();
  CHECK(take_result().version == 5);
}

// An idle store hibernates: after `hibernate_after_ms` without a write, a
// read or an apply, a job closes its connections (no descriptors, no page
// cache), and the next job opens what it needs. A store in use stays open.
TEST_CASE_FIXTURE(group_fixture,
                  "an idle store closes its connections and opens them "
                  "again for its next write and read") {
  auto writer = start_writer();
  write(writer, append("s", 1));
  settle();
  CHECK(take_result().version == 0);
  REQUIRE(files->connections_open() == 3);
  // Written to within every 9 s: it stays open.
  for (int i = 2; i <= 3; ++i) {
    sched.advance_time(std::chrono::seconds{9});
    settle();
    CHECK(files->connections_open() == 3);
    write(writer, append("s", i));
    settle();
    CHECK(take_result().version == i - 1);
  }
  // Then idle for 10 s: closed.
  sched.advance_time(std::chrono::seconds{9});
  settle();
  CHECK(files->connections_open() == 3);
  sched.advance_time(std::chrono::milliseconds{1100});
  settle();
  CHECK(files->connections_open() == 0);
  // Nothing is lost, and writes and reads go on.
  write(writer, append("s", 4));
  settle();
  CHECK(take_result().version == 3);
  read(writer, version_of("s"));
  settle();
  CHECK(take_query().version == 3);
  CHECK(files->connections_open() == 2);
}

// The direct path: a writer that finds it leads its group (a proposal or a
// read index went through) puts itself in the node's local leaders, where
// gateway workers look first; one that finds it does not, or stops, takes
// itself out. A follower never appears there.
TEST_CASE_FIXTURE(group_fixture,
                  "a leader is in the node's local leaders until it stops") {
  auto leaders = std::make_shared<local_leaders>();
  auto replica = single_voter();
  replica.leaders = leaders;
  auto writer = start_writer({}, replica);
  CHECK(!leaders->find("s")); // nothing proposed yet: unknown
  write(writer, append("s", 1));
  settle();
  CHECK(take_result().version == 0);
  CHECK(leaders->find("s") == writer);
  self->send_exit(writer, caf::exit_reason::user_shutdown);
  settle();
  CHECK(!leaders->find("s"));
  CHECK(leaders->size() == 0);
}

TEST_CASE_FIXTURE(group_fixture,
                  "a replica that is not the leader is never a local leader") {
  auto leaders = std::make_shared<local_leaders>();
  replica_config replica;
  replica.node = 1;
  replica.group = "s";
  replica.initial_voters = {1, 2};
  replica.tick_interval_ms = tick_ms;
  replica.leaders = leaders;
  auto writer = start_writer({}, replica);
  write(writer, append("s", 1));
  settle();
  CHECK(is(take_error(), errc::not_leader));
  CHECK(!leaders->find("s"));
  read(writer, version_of("s"));
  settle();
  CHECK(is(take_error(), errc::not_leader));
  CHECK(!leaders->find("s"));
}

// A write whose entry does not commit within answer_within_ms (here its
// persist never runs, as when the disk stalls or the followers are cut
// off) is answered `timeout`, outcome unknown: requests sent straight to a
// leader have no router to watch the time for them. One timer per store.
TEST_CASE_FIXTURE(group_fixture,
                  "a write not applied within answer_within_ms is answered "
                  "timeout") {
  actors::manual_executor io;
  auto replica = single_voter();
  replica.answer_within_ms = 2000;
  auto writer = start_writer({}, replica, &io);
  write(writer, append("s", 1));
  sched.run(); // proposed; its persist waits in the IO queue, never run
  sched.advance_time(std::chrono::milliseconds{1000});
  sched.run();
  write(writer, append("s", 2));
  sched.run();
  CHECK(no_answer());
  sched.advance_time(std::chrono::milliseconds{1000});
  sched.run();
  // The first is 2 s old: answered; the second waits its turn.
  CHECK(is(take_error(), errc::timeout));
  CHECK(no_answer());
  sched.advance_time(std::chrono::milliseconds{1000});
  sched.run();
  CHECK(is(take_error(), errc::timeout));
  CHECK(no_answer());
  stop_all(io);
}
