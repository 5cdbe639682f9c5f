// Subscribers through the C++ client (client::subscribe): actors that
// receive events as messages from real nodes (tests/client/fixture.hpp).
// Catch-up then live delivery without gap or duplicate, credit that holds
// back a receiver that does not answer, a persistent subscriber that leaves
// mid-stream and comes back, a JSON-RPC consumer and a CAF consumer
// competing for one subscription, and a node that stops under its
// subscriber.

#include <doctest/doctest.h>

#include <condition_variable>
#include <mutex>
#include <set>

#include "caf/event_based_actor.hpp"
#include "caf/send.hpp"
#include "caf/stateful_actor.hpp"

#include "tests/client/fixture.hpp"
#include "tests/subscriptions/subscription_support.hpp"

using namespace cxesdb::tests;
using namespace cxesdb::gateway;
using cxesdb::actors::ack_atom_v;
using cxesdb::actors::dropped_atom;
using cxesdb::actors::event_atom;

namespace {

/// What a receiver got, shared with the test's thread.
struct inbox {
  std::mutex mx;
  std::condition_variable cv;
  /// The events, parsed, in arrival order.
  std::vector<recorded_event> events;
  /// The reasons of `dropped` messages.
  std::vector<std::string> dropped;
  /// The store and subscription every message named.
  std::set<std::pair<std::string, std::string>> names;

  /// Waits until `pred()` holds (under the lock) or `timeout` passed.
  template <class Pred>
  bool wait(Pred pred, std::chrono::milliseconds timeout
                       = std::chrono::seconds{60}) {
    std::unique_lock<std::mutex> guard{mx};
    return cv.wait_for(guard, timeout, pred);
  }

  size_t count() {
    std::lock_guard<std::mutex> guard{mx};
    return events.size();
  }

  std::vector<int64_t> positions() {
    std::lock_guard<std::mutex> guard{mx};
    std::vector<int64_t> out;
    for (auto& e : events)
      out.push_back(e.position);
    return out;
  }

  /// Waits for `n` events; fails the test case when they do not come.
  void expect(size_t n, std::chrono::milliseconds timeout
                        = std::chrono::seconds{60}) {
    auto ok = wait([&] { return events.size() >= n; }, timeout);
    REQUIRE_MESSAGE(ok, "only " << count() << " of " << n << " events: "
                                << positions_text(positions()));
  }
};

/// How a receiver answers its events.
enum class answering {
  /// At once (the handler returns).
  at_once,
  /// Not until it receives `ok_atom`; from then on at once.
  withheld,
  /// At once, and it acknowledges each event from inside the actor by a
  /// request to the event's sender (the subscription's relay), until it
  /// receives `(put_atom, false)`.
  acking,
};

struct receiver_state {
  std::vector<caf::response_promise> held;
  bool holding = false;
  bool acking = false;
};

caf::behavior receiver(caf::stateful_actor<receiver_state>* self,
                       std::shared_ptr<inbox> box, answering how) {
  self->state.holding = how == answering::withheld;
  self->state.acking = how == answering::acking;
  return {
    [self, box](event_atom, const std::string& store,
                     const std::string& sub, const std::string& text) {
      auto e = json::parse(text).get<recorded_event>();
      {
        std::lock_guard<std::mutex> guard{box->mx};
        box->events.push_back(e);
        box->names.emplace(store, sub);
      }
      box->cv.notify_all();
      if (self->state.holding)
        self->state.held.push_back(self->make_response_promise());
      if (self->state.acking)
        self
          ->request(caf::actor_cast<caf::actor>(self->current_sender()),
                    caf::infinite, ack_atom_v, e.position)
          .then([](int64_t) {}, [](caf::error&) {});
    },
    [box](dropped_atom, const std::string& store, const std::string& sub,
          const std::string& reason) {
      {
        std::lock_guard<std::mutex> guard{box->mx};
        box->dropped.push_back(reason);
        box->names.emplace(store, sub);
      }
      box->cv.notify_all();
    },
    [self](caf::ok_atom) {
      self->state.holding = false;
      for (auto& rp : self->state.held)
        rp.deliver(caf::unit);
      self->state.held.clear();
    },
    [self](caf::put_atom, bool acking) { self->state.acking = acking; },
  };
}

/// A receiver in `sys` and its inbox.
struct test_receiver {
  std::shared_ptr<inbox> box = std::make_shared<inbox>();
  caf::actor handle;

  explicit test_receiver(answering how = answering::at_once,
                         caf::actor_system& sys = client_system()) {
    handle = sys.spawn(receiver, box, how);
  }

  test_receiver(const test_receiver&) = delete;
  test_receiver& operator=(const test_receiver&) = delete;

  /// The actor system waits for its actors: stop it.
  ~test_receiver() {
    caf::anon_send_exit(handle, caf::exit_reason::user_shutdown);
  }
};

/// A C++ client of the node that json_client_at(i) talks to: the node that
/// serves a subscription is the one its subscriber is connected to.
client api_client_on(size_t i, caf::actor_system& sys = client_system()) {
  auto ns = nodes();
  auto& e = ns[i % ns.size()];
  auto c = client::connect(sys, e.host, e.api_port);
  if (!c)
    FAIL("cannot connect the C++ client: " << sys.render(c.error()));
  return std::move(*c);
}

/// A background writer of `total` events to `store` through node `i`.
background_writer::options writer_options(size_t i, const std::string& store,
                                          size_t total) {
  background_writer::options wo;
  wo.port = nodes()[i % nodes().size()].json_port;
  wo.store = store;
  wo.total = total;
  wo.batch_max = 10;
  return wo;
}

subscription_request all_from_origin(std::string name = "transient",
                                     int64_t max_in_flight = 16) {
  subscription_request req;
  req.name = std::move(name);
  req.start_from = "origin";
  req.max_in_flight = max_in_flight;
  return req;
}

} // namespace

TEST_CASE("a CAF subscriber of $all gets the catch-up, then live events "
          "during appends, in order, without gap or duplicate") {
  auto j = json_client_at(5);
  auto api = api_client_at(5); // another node than the JSON client's
  const std::string st = "cs_caf_all";
  ok(j, "create_store", {{"store", st}});
  append_many(j, st, "early", 100, 10); // 0..99
  test_receiver r;
  auto sub = api.subscribe(st, all_from_origin(), r.handle);
  REQUIRE_MESSAGE(sub, client_system().render(sub.error()));
  CHECK(sub->subscription.rfind("transient-", 0) == 0);
  CHECK(sub->checkpoint == -1);
  // 200 more through a third node while the subscriber catches up; the
  // window of 16 events crosses the network many times.
  background_writer writer{writer_options(7, st, 200)};
  r.box->expect(300);
  writer.join();
  writer.check();
  CHECK(r.box->positions() == range_of(0, 299));
  // The events are the stored ones, field for field.
  auto stored = read_all_events(j, st);
  REQUIRE(stored.size() == 300);
  {
    std::lock_guard<std::mutex> guard{r.box->mx};
    for (size_t i = 0; i < stored.size(); ++i)
      CHECK(json(r.box->events[i]) == stored[i]);
    CHECK(r.box->names
          == std::set<std::pair<std::string, std::string>>{
            {st, sub->subscription}});
  }
  // Unsubscribed, the receiver gets nothing more, and the id is gone.
  REQUIRE(api.unsubscribe(st, sub->subscription));
  append_many(j, st, "late", 5, 5);
  CHECK(!r.box->wait([&] { return r.box->events.size() > 300; },
                     std::chrono::milliseconds{300}));
  auto again = api.unsubscribe(st, sub->subscription);
  REQUIRE(!again);
  CHECK(reason_of(again.error()) == errc::not_found);
  auto ack = api.ack(st, sub->subscription, 3);
  REQUIRE(!ack);
  CHECK(reason_of(ack.error()) == errc::not_found);
  CHECK(r.box->dropped.empty());
}

TEST_CASE("subscribe answers the errors save_subscription answers") {
  auto j = json_client_at(6);
  auto api = api_client_at(5); // the same node: "unavailable" is per node
  const std::string st = "cs_caf_errors";
  ok(j, "create_store", {{"store", st}});
  test_receiver r;
  auto same_error = [&](const std::string& store, subscription_request req,
                        const std::string& what) {
    json params = req;
    params["store"] = store;
    auto resp = rpc(j, "save_subscription", params);
    INFO(what << ": " << brief(resp));
    REQUIRE(resp.contains("error"));
    auto x = api.subscribe(store, req, r.handle);
    REQUIRE(!x);
    CHECK(to_string(reason_of(x.error())) == resp["error"]["data"]["reason"]);
    CHECK(data_of(x.error()) == resp["error"]["data"]);
  };
  subscription_request bad_type;
  bad_type.type = "by_nothing";
  same_error(st, bad_type, "an unknown type");
  subscription_request bad_window;
  bad_window.max_in_flight = 0;
  same_error(st, bad_window, "max_in_flight 0");
  same_error("nosuch", {}, "a missing store");
  // A persistent name taken with another selector.
  ok(j, "save_subscription", {{"store", st},
                              {"type", "by_stream"},
                              {"selector", "$all"},
                              {"name", "audit"}});
  subscription_request other;
  other.selector = "order-1";
  other.name = "audit";
  same_error(st, other, "already_exists");
  // One subscriber per subscription and client, as per connection.
  auto first = api.subscribe(st, all_from_origin("audit"), r.handle);
  REQUIRE_MESSAGE(first, client_system().render(first.error()));
  auto second = api.subscribe(st, all_from_origin("audit"), r.handle);
  REQUIRE(!second);
  CHECK(reason_of(second.error()) == errc::already_exists);
  CHECK(api.unsubscribe(st, "audit"));
  CHECK(api.subscribe(st, all_from_origin("audit"), r.handle));
  // No receiver at all.
  auto none = api.subscribe(st, {}, caf::actor{});
  REQUIRE(!none);
  CHECK(reason_of(none.error()) == errc::invalid_params);
  // The three calls still need a subscriber when made by name.
  for (auto m : {"save_subscription", "unsubscribe", "ack_event"}) {
    auto x = api.call(m, {{"store", st}});
    REQUIRE(!x);
    CHECK(reason_of(x.error()) == errc::method_not_found);
  }
}

TEST_CASE("a receiver that does not answer holds delivery back at "
          "max_in_flight; a persistent one that does not ack as well") {
  auto j = json_client_at(8);
  auto api = api_client_on(8);
  const std::string st = "cs_caf_credit";
  ok(j, "create_store", {{"store", st}});
  append_many(j, st, "a", 50, 10); // 0..49

  // Transient: credit. Five events reach the receiver and no more, however
  // many are stored or appended, until it answers them.
  test_receiver slow{answering::withheld};
  REQUIRE(api.subscribe(st, all_from_origin("transient", 5), slow.handle));
  slow.box->expect(5);
  append_many(j, st, "a", 20, 10); // 50..69
  CHECK(!slow.box->wait([&] { return slow.box->events.size() > 5; },
                        std::chrono::milliseconds{1000}));
  caf::anon_send(slow.handle, caf::ok_atom_v);
  slow.box->expect(70);
  CHECK(slow.box->positions() == range_of(0, 69));

  // Persistent: acks. The receiver answers at once but acks nothing: four
  // events, then nothing until the client acks two of them.
  test_receiver lazy;
  REQUIRE(api.subscribe(st, all_from_origin("held", 4), lazy.handle));
  lazy.box->expect(4);
  CHECK(!lazy.box->wait([&] { return lazy.box->events.size() > 4; },
                        std::chrono::milliseconds{1000}));
  auto cp = api.ack(st, "held", 1);
  REQUIRE_MESSAGE(cp, client_system().render(cp.error()));
  CHECK(*cp == 1);
  lazy.box->expect(6);
  CHECK(!lazy.box->wait([&] { return lazy.box->events.size() > 6; },
                        std::chrono::milliseconds{500}));
  CHECK(lazy.box->positions() == range_of(0, 5));
}

TEST_CASE("a persistent CAF subscriber that acks, leaves mid-stream and "
          "comes back resumes after its last ack and gets every event at "
          "least once") {
  auto j = json_client_at(9);
  const std::string st = "cs_caf_persist";
  ok(j, "create_store", {{"store", st}});
  append_many(j, st, "early", 100, 10); // 0..99
  background_writer writer{writer_options(10, st, 200)};
  constexpr int64_t last = 299;
  std::vector<int64_t> first;
  {
    // The first subscriber lives in an actor system of its own, which
    // goes away with it: its relay stops, then its connection closes.
    caf::actor_system_config cfg;
    cfg.load<caf::io::middleman>();
    cfg.set("logger.verbosity", caf::atom("quiet"));
    cfg.set("logger.console", caf::atom("none"));
    add_error_category(cfg);
    caf::actor_system sys{cfg};
    auto api = api_client_on(9, sys);
    test_receiver r{answering::at_once, sys};
    auto sub = api.subscribe(st, all_from_origin("p", 20), r.handle);
    REQUIRE_MESSAGE(sub, sys.render(sub.error()));
    CHECK(sub->subscription == "p");
    CHECK(sub->checkpoint == -1);
    // 40 events (the window is 20), acked up to 31: 32..39 stay
    // unacknowledged.
    for (int64_t upto : {7, 15, 23, 31}) {
      r.box->expect(static_cast<size_t>(upto + 1));
      auto cp = api.ack(st, "p", upto);
      REQUIRE_MESSAGE(cp, sys.render(cp.error()));
      CHECK(*cp == upto);
    }
    r.box->expect(40);
    first = r.box->positions();
    CHECK(std::vector<int64_t>(first.begin(), first.begin() + 40)
          == range_of(0, 39));
  }
  // The node saw the subscriber go: no subscriber, and checkpoint 31 once
  // the node's replica applied it (the ack was answered by the leader).
  json entry;
  CHECK_MESSAGE(eventually([&] {
                  entry = subscription_entry(j, st, "p");
                  return entry.is_object() && entry["subscribers"] == 0
                         && entry["checkpoint"] == 31;
                }),
                brief(entry));
  // It comes back through the same node: delivery resumes after 31.
  auto api = api_client_on(9);
  test_receiver r;
  auto sub = api.subscribe(st, all_from_origin("p", 20), r.handle);
  REQUIRE_MESSAGE(sub, client_system().render(sub.error()));
  CHECK(sub->checkpoint == 31);
  size_t acked = 0;
  for (;;) {
    r.box->expect(acked + 1);
    auto ps = r.box->positions();
    auto cp = api.ack(st, "p", ps.back());
    REQUIRE_MESSAGE(cp, client_system().render(cp.error()));
    acked = ps.size();
    if (ps.back() == last)
      break;
  }
  writer.join();
  writer.check();
  CHECK(r.box->positions() == range_of(32, last));
  std::set<int64_t> all(first.begin(), first.end());
  for (auto p : r.box->positions())
    all.insert(p);
  CHECK(all.size() == static_cast<size_t>(last + 1));
  CHECK(eventually([&] {
    return subscription_entry(j, st, "p")["checkpoint"] == last;
  }));
  CHECK(api.unsubscribe(st, "p"));
}

TEST_CASE("a JSON-RPC consumer and a CAF consumer compete for one "
          "persistent subscription and together get every event; the CAF "
          "consumer's unacknowledged events go to the other when it leaves") {
  auto j = json_client_at(11);
  auto c = json_client_at(11);
  auto api = api_client_on(11); // the same node: consumers of one emitter
  const std::string st = "cs_caf_compete";
  ok(j, "create_store", {{"store", st}});
  json params{{"store", st},
              {"type", "by_stream"},
              {"selector", "$all"},
              {"name", "shared"},
              {"start_from", "origin"},
              {"max_in_flight", 5}};
  ok(c, "save_subscription", params);
  // The CAF consumer acks each event from inside its actor.
  test_receiver r{answering::acking};
  REQUIRE(api.subscribe(st, all_from_origin("shared", 5), r.handle));
  auto subscribers = [&](int n) {
    return eventually([&] {
      auto e = subscription_entry(j, st, "shared");
      return e.is_object() && e["subscribers"] == n;
    });
  };
  CHECK(subscribers(2));
  // The JSON consumer reads and acks until `done()`.
  std::vector<int64_t> got_json;
  auto consume_json_until = [&](auto done) {
    auto deadline = clock_type::now() + std::chrono::seconds{60};
    while (!done()) {
      REQUIRE_MESSAGE(clock_type::now() < deadline,
                      "JSON got " << positions_text(got_json) << ", CAF got "
                                  << positions_text(r.box->positions()));
      while (auto msg = next_notification(c, 20)) {
        auto p = event_of(*msg, st, "shared")["position"].get<int64_t>();
        got_json.push_back(p);
        ok(c, "ack_event", {{"store", st},
                            {"subscription", "shared"},
                            {"position", p}});
      }
    }
  };
  auto covered = [&](size_t n) {
    std::set<int64_t> u(got_json.begin(), got_json.end());
    for (auto p : r.box->positions())
      u.insert(p);
    return u.size() >= n;
  };
  constexpr size_t total = 200;
  background_writer writer{writer_options(12, st, total)};
  consume_json_until([&] { return covered(total); });
  writer.join();
  writer.check();
  auto got_caf = r.box->positions();
  {
    INFO("JSON got " << positions_text(got_json));
    INFO("CAF got " << positions_text(got_caf));
    // Both took part; nobody left, so no event went to both.
    CHECK(!got_json.empty());
    CHECK(!got_caf.empty());
    std::set<int64_t> both(got_json.begin(), got_json.end());
    for (auto p : got_caf)
      CHECK(both.insert(p).second);
  }
  // The CAF consumer stops acking: it fills its window of 5 and gets no
  // more. Then it goes away, and its five events go to the JSON consumer.
  caf::anon_send(r.handle, caf::put_atom_v, false);
  background_writer more{writer_options(12, st, 20)}; // 200..219
  consume_json_until([&] { return r.box->count() >= got_caf.size() + 5; });
  auto all_caf = r.box->positions();
  std::vector<int64_t> held(all_caf.begin() + got_caf.size(), all_caf.end());
  REQUIRE(held.size() == 5);
  caf::anon_send_exit(r.handle, caf::exit_reason::user_shutdown);
  consume_json_until([&] {
    std::set<int64_t> u(got_json.begin(), got_json.end());
    for (auto p : held)
      if (u.count(p) == 0)
        return false;
    return covered(total + 20);
  });
  more.join();
  more.check();
  CHECK(subscribers(1));
  // Every event acknowledged by one or the other: the checkpoint reaches
  // the head.
  CHECK(eventually([&] {
    return subscription_entry(j, st, "shared")["checkpoint"]
           == total + 20 - 1;
  }));
}

TEST_CASE("a CAF subscriber hears dropped when its node stops") {
  node_process node;
  auto c = client::connect(client_system(), "127.0.0.1", node.api_port());
  REQUIRE_MESSAGE(c, client_system().render(c.error()));
  test_receiver r;
  auto sub = c->subscribe("", all_from_origin(), r.handle);
  REQUIRE_MESSAGE(sub, client_system().render(sub.error()));
  REQUIRE(c->append_events("", "s", expected_version::any(),
                           {event_data{"X", 1}}));
  r.box->expect(1);
  REQUIRE(node.stop() == 0);
  CHECK(r.box->wait([&] { return !r.box->dropped.empty(); },
                    std::chrono::seconds{10}));
  {
    std::lock_guard<std::mutex> guard{r.box->mx};
    REQUIRE(r.box->dropped.size() == 1);
    auto reason = r.box->dropped[0];
    CHECK((reason == "store_stopped" || reason == "unavailable"));
    // The store as the client named it: "" for the default store.
    CHECK(r.box->names.count({"", sub->subscription}) == 1);
  }
  // The subscription is gone with its relay.
  auto ack = c->ack("", sub->subscription, 0);
  REQUIRE(!ack);
  CHECK(reason_of(ack.error()) == errc::not_found);
}
