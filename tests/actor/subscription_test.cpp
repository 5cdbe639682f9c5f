// Emitters on the deterministic scheduler: the switch from catch-up to live
// neither loses nor repeats an event, whatever order reads and commits take;
// and a remote subscriber's proxy (gateway/remote_subscriber.hpp) between an
// emitter and a subscriber that returns credit slowly.

#include <doctest/doctest.h>

#include "caf/scoped_actor.hpp"
#include "caf/send.hpp"

#include <nlohmann/json.hpp>

#include "actors/type_ids.hpp"
#include "gateway/remote_subscriber.hpp"
#include "stores/catalog.hpp"
#include "stores/messages.hpp"
#include "stores/store_group.hpp"
#include "stores/subscriptions.hpp"
#include "tests/actor/fixture.hpp"

using namespace cxesdb;
using namespace cxesdb::stores;
using namespace cxesdb::actors;
namespace raft = cxesdb::actors::raft;

namespace {

struct subs_fixture : tests::actor_fixture {
  tests::temp_dir dir{"cxesdb-actor"};
  std::shared_ptr<store_files> files{
    store_files::open("s", dir.path, store_files::readers_default)};
  caf::actor writer;
  caf::actor reader;
  caf::actor hub;
  int next_id = 1;

  explicit subs_fixture(int64_t page_events = 256) {
    subscription_limits limits;
    limits.page_events = page_events;
    writer = spawn_store_writer(sys, files, exec, store_group_limits{},
                                single_voter());
    reader = spawn_store_reader(sys, files, exec, store_group_limits{});
    hub = spawn_subscription_hub(sys, limits);
    self->send(writer, wire_atom_v, hub, reader);
    self->send(hub, wire_atom_v, writer, reader);
    // The writer's replica loads its Raft log, elects itself (the only
    // voter) and applies the no-op of its term: it takes writes now.
    settle();
    REQUIRE(status(writer).role == raft::role::leader);
  }

  /// The writer and the hub know each other: stop them, as their supervisor
  /// would, or the actor system waits for them forever.
  ~subs_fixture() {
    for (auto& a : {writer, reader, hub})
      self->send_exit(a, caf::exit_reason::user_shutdown);
    settle();
  }

  /// Queues an append of `n` events to `stream`; nothing runs yet. Returns
  /// nothing: the answer goes nowhere (anonymous).
  void append(const std::string& stream, int n) {
    append_cmd cmd{stream, {expected_version::any, -1}, {}, 1};
    for (int i = 0; i < n; ++i) {
      char id[40];
      std::snprintf(id, sizeof(id), "00000000-0000-7000-8000-%012d",
                    next_id++);
      cmd.events.push_back({id, "T", "{}", "null", "application/json"});
    }
    caf::anon_send(writer, write_atom_v, command{std::move(cmd)});
  }

  /// The emitter and id of the last subscription.
  caf::actor emitter;
  std::string id;

  /// Subscribes `self` (transient) to `stream` ("$all" for every stream)
  /// and grants it `credit` (none when 0).
  caf::actor subscribe(start_from from, const std::string& stream = "$all",
                       int64_t max_in_flight = 1000, int64_t credit = 1000) {
    subscribe_request req;
    req.store = "s";
    std::string err;
    REQUIRE(subscription_filter::parse("by_stream", stream, req.filter, err));
    req.start = from;
    req.max_in_flight = max_in_flight;
    self->send(hub, caf::subscribe_atom_v, req,
               caf::actor_cast<caf::actor>(self));
    sched.run();
    emitter = nullptr;
    self->receive([&](subscribe_reply& rep, caf::actor& e) {
      emitter = e;
      id = rep.subscription;
    });
    REQUIRE(emitter);
    if (credit > 0)
      grant(credit);
    return emitter;
  }

  /// Lets the last subscription send `n` more events.
  void grant(int64_t n) {
    self->send(emitter, credit_atom_v, id, n,
               caf::actor_cast<caf::actor>(self));
    sched.run();
  }

  /// Every position delivered to `self` so far, in arrival order.
  std::vector<int64_t> delivered() {
    std::vector<int64_t> out;
    bool more = true;
    while (more) {
      more = false;
      self->receive(
        [&](event_atom, std::string&, std::string&,
            std::vector<recorded_event>& events) {
          for (auto& e : events)
            out.push_back(e.position);
          more = true;
        },
        caf::after(std::chrono::seconds(0)) >> [] {});
    }
    return out;
  }

  static std::vector<int64_t> iota(int64_t n) {
    std::vector<int64_t> v;
    for (int64_t i = 0; i < n; ++i)
      v.push_back(i);
    return v;
  }
};

struct small_pages : subs_fixture {
  small_pages() : subs_fixture(2) {
  }
};

} // namespace

TEST_CASE_FIXTURE(subs_fixture, "catch-up, then live, in order") {
  append("a", 5);
  settle();
  subscribe({start_from::origin, 0});
  settle();
  CHECK(delivered() == iota(5));
  append("b", 3);
  settle();
  CHECK(delivered() == std::vector<int64_t>{5, 6, 7});
}

TEST_CASE_FIXTURE(subs_fixture, "a commit during the catch-up read: read first") {
  append("a", 5);
  settle();
  subscribe({start_from::origin, 0});
  // The emitter's first read is queued. Appends arrive before it runs.
  REQUIRE(exec.queued() == 1);
  append("b", 3);
  sched.run();
  REQUIRE(exec.queued() == 2); // the read, then the append's Raft persist
  exec.run_once();             // the read: sees 0..4
  sched.run();
  REQUIRE(files->machine->next_position() == 5); // 5..7 not applied yet
  settle(); // the commit: 5..7 persisted, applied and pushed live
  CHECK(delivered() == iota(8));
}

TEST_CASE_FIXTURE(subs_fixture,
                  "a commit during the catch-up read: commit first") {
  append("a", 5);
  settle();
  append("b", 3);
  sched.run();
  // Run the append's Raft persists until its entry is committed and its
  // apply transaction is queued (the consensus actor handed it over).
  auto index = status(writer).last_index;
  for (int i = 0; i < 10 && status(writer).applied < index; ++i) {
    REQUIRE(exec.run_once());
    sched.run();
  }
  REQUIRE(files->machine->next_position() == 5);
  REQUIRE(exec.queued() == 1); // the transaction of 5..7 is queued
  subscribe({start_from::origin, 0});
  REQUIRE(exec.queued() == 2); // then the emitter's first read
  exec.run_once();             // commit first: its live push arrives while
  REQUIRE(files->machine->next_position() == 8);
  sched.run();                 // the read is in flight and is not taken
  exec.run_once();             // the read sees 0..7
  settle();
  CHECK(delivered() == iota(8));
}

TEST_CASE_FIXTURE(small_pages, "many pages of catch-up while appends go on") {
  append("a", 7);
  settle();
  subscribe({start_from::origin, 0});
  // Interleave: one job at a time, and an append after every step.
  for (int round = 0; round < 6; ++round) {
    exec.run_once();
    sched.run();
    append("b", 1);
    sched.run();
  }
  settle();
  CHECK(delivered() == iota(13));
}

TEST_CASE_FIXTURE(subs_fixture, "start from current skips what is stored") {
  append("a", 4);
  settle();
  subscribe({start_from::current, 0});
  settle();
  CHECK(delivered().empty());
  append("a", 2);
  settle();
  CHECK(delivered() == std::vector<int64_t>{4, 5});
}

TEST_CASE_FIXTURE(subs_fixture, "start from a position") {
  append("a", 6);
  settle();
  subscribe({start_from::position, 3});
  settle();
  CHECK(delivered() == std::vector<int64_t>{3, 4, 5});
}

TEST_CASE_FIXTURE(subs_fixture, "without credit nothing is sent, and nothing is lost") {
  append("a", 3);
  settle();
  subscribe({start_from::origin, 0}, "$all", 2, 0);
  settle();
  CHECK(delivered().empty()); // not ready: no credit yet
  grant(2);
  settle();
  CHECK(delivered() == std::vector<int64_t>{0, 1}); // max_in_flight
  grant(2);
  settle();
  CHECK(delivered() == std::vector<int64_t>{2});
}

TEST_CASE_FIXTURE(small_pages, "a one-stream subscription skips other streams") {
  append("a", 1);
  append("misc", 1);
  append("a", 3);
  append("misc", 2);
  settle();
  subscribe({start_from::origin, 0}, "misc", 100, 100);
  settle();
  CHECK(delivered() == std::vector<int64_t>{1, 5, 6});
  append("a", 1);
  append("misc", 1);
  settle();
  CHECK(delivered() == std::vector<int64_t>{8});
}

TEST_CASE_FIXTURE(small_pages, "a remote subscriber's proxy passes a transient "
                               "subscription on by the subscriber's credit: "
                               "in order, never more than max_in_flight out") {
  constexpr int64_t max_in_flight = 3;
  caf::scoped_actor remote{sys};
  auto proxy = gateway::spawn_remote_subscriber(sys, caf::actor{self},
                                                caf::actor{remote});
  append("a", 5);
  settle();
  // What a gateway worker does for save_subscription.
  subscribe_request req;
  req.store = "s";
  std::string err;
  REQUIRE(subscription_filter::parse("by_stream", "$all", req.filter, err));
  req.start = {start_from::origin, 0};
  req.max_in_flight = max_in_flight;
  self->send(hub, caf::subscribe_atom_v, req, proxy);
  sched.run();
  self->receive([&](subscribe_reply& rep, caf::actor& e) {
    emitter = e;
    id = rep.subscription;
  });
  self->send(proxy, activate_atom_v, std::string{"s"}, id, emitter,
             max_in_flight, false);
  // The subscriber returns one event of credit per round while appends go
  // on (catch-up, then live).
  std::vector<int64_t> got;
  int64_t out = 0;
  for (int round = 0; round < 40; ++round) {
    if (round % 4 == 0 && round < 24)
      append("b", 2);
    settle();
    for (bool more = true; more;) {
      more = false;
      remote->receive(
        [&](event_atom, const std::string&, const std::string& sub,
            const std::vector<std::string>& events) {
          CHECK(sub == id);
          for (auto& e : events)
            got.push_back(
              nlohmann::json::parse(e)["position"].get<int64_t>());
          out += static_cast<int64_t>(events.size());
          more = true;
        },
        caf::after(std::chrono::seconds(0)) >> [] {});
    }
    CHECK(out <= max_in_flight);
    if (out > 0) {
      remote->send(proxy, credit_atom_v, std::string{"s"}, id, int64_t{1});
      --out;
    }
  }
  CHECK(got == iota(5 + 12));
  self->send_exit(proxy, caf::exit_reason::user_shutdown);
  settle();
}
