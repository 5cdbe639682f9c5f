// The store's writer and reader on the deterministic scheduler: group
// commit, bounded queues, and the one-for-all supervisor.

#include <doctest/doctest.h>

#include "caf/event_based_actor.hpp"
#include "caf/send.hpp"

#include "actors/supervisor.hpp"
#include "actors/type_ids.hpp"
#include "stores/catalog.hpp"
#include "stores/messages.hpp"
#include "stores/store_group.hpp"
#include "tests/actor/fixture.hpp"

using namespace cxesdb;
using namespace cxesdb::stores;
using actors::read_atom_v;
using actors::write_atom_v;

namespace {

command append(const std::string& stream, int i) {
  char id[40];
  std::snprintf(id, sizeof(id), "00000000-0000-7000-8000-%012d", i);
  return append_cmd{stream,
                    {expected_version::any, -1},
                    {{id, "T", "{}", "null", "application/json"}},
                    1};
}

struct group_fixture : tests::actor_fixture {
  tests::temp_dir dir;
  std::shared_ptr<store_files> files{
    store_files::open("s", dir.path, store_files::readers_default)};

  /// Sends a write; its answer lands in `self`'s mailbox.
  void write(const caf::actor& writer, command cmd) {
    self->send(writer, write_atom_v, std::move(cmd));
  }

  /// Takes one answer from `self`'s mailbox.
  command_result take_result() {
    command_result out;
    bool got = false;
    self->receive([&](command_result& r) {
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

  caf::error take_error() {
    caf::error out;
    self->receive([&](caf::error& e) { out = e; },
                  [&](command_result&) { FAIL("expected an error"); },
                  caf::after(std::chrono::seconds(0)) >> [] {});
    return out;
  }
};

} // namespace

TEST_CASE_FIXTURE(group_fixture,
                  "commands that arrive during a transaction share the next") {
  auto writer = spawn_store_writer(sys, files, exec, store_group_limits{});
  write(writer, append("s", 1));
  sched.run();
  REQUIRE(exec.queued() == 1); // the first transaction is in flight
  for (int i = 2; i <= 6; ++i)
    write(writer, append("s", i));
  sched.run();
  CHECK(exec.queued() == 1); // the others wait: one transaction at a time
  exec.run_once();           // commit the first
  sched.run();
  CHECK(take_result().version == 0);
  REQUIRE(exec.queued() == 1); // one job (one transaction) for all five
  exec.run_once();
  sched.run();
  for (int v = 1; v <= 5; ++v)
    CHECK(take_result().version == v);
  CHECK(files->machine->applied_index() == 6);
  CHECK(exec.queued() == 0);
}

TEST_CASE_FIXTURE(group_fixture, "a transaction takes at most the batch bound") {
  store_group_limits limits;
  limits.batch_commands_max = 2;
  auto writer = spawn_store_writer(sys, files, exec, limits);
  for (int i = 1; i <= 5; ++i)
    write(writer, append("s", i));
  sched.run();
  size_t jobs = 0;
  while (exec.run_once()) {
    ++jobs;
    sched.run();
  }
  CHECK(jobs == 3); // 1 alone (it started the first), then 2 and 2
  for (int v = 0; v < 5; ++v)
    CHECK(take_result().version == v);
}

TEST_CASE_FIXTURE(group_fixture, "a full write queue answers overloaded") {
  store_group_limits limits;
  limits.write_queue_max = 2;
  auto writer = spawn_store_writer(sys, files, exec, limits);
  for (int i = 1; i <= 4; ++i)
    write(writer, append("s", i));
  sched.run();
  // One in flight, two queued, the fourth refused at once.
  auto err = take_error();
  CHECK(err.category() == caf::atom("cxesdb"));
  CHECK(static_cast<errc>(err.code()) == errc::overloaded);
  settle();
  for (int v = 0; v < 3; ++v)
    CHECK(take_result().version == v);
}

TEST_CASE_FIXTURE(group_fixture, "an IO queue that refuses work answers overloaded") {
  actors::manual_executor tiny{0};
  auto writer = spawn_store_writer(sys, files, tiny, store_group_limits{});
  write(writer, append("s", 1));
  sched.run();
  auto err = take_error();
  CHECK(static_cast<errc>(err.code()) == errc::overloaded);
  // The writer is not stuck: with room again, the next write goes through.
  auto writer2 = spawn_store_writer(sys, files, exec, store_group_limits{});
  write(writer2, append("s", 2));
  settle();
  CHECK(take_result().version == 0);
}

TEST_CASE_FIXTURE(group_fixture, "reads use every read connection, then queue") {
  auto writer = spawn_store_writer(sys, files, exec, store_group_limits{});
  write(writer, append("s", 1));
  settle();
  take_result();
  auto reader = spawn_store_reader(sys, files, exec, store_group_limits{});
  for (int i = 0; i < 3; ++i)
    self->send(reader, read_atom_v, query{stream_version_query{"s"}});
  sched.run();
  CHECK(exec.queued() == store_files::readers_default); // the third waits
  settle();
  for (int i = 0; i < 3; ++i) {
    bool got = false;
    self->receive([&](query_result& r) {
      CHECK(r.version == 0);
      got = true;
    },
    caf::after(std::chrono::seconds(0)) >> [] {});
    CHECK(got);
  }
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
