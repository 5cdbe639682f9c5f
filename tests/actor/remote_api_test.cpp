// The API actor (gateway/remote_api.hpp) on the deterministic scheduler,
// in front of a fake gateway that records request lines and answers only
// when the test says so: request lines, results, errors with their context,
// the calls-in-flight limit, the deadline, checks of the params text, and
// what happens to calls in work when the gateway stops. Then a remote
// subscriber's proxy (gateway/remote_subscriber.hpp), with the test playing
// the gateway's worker, the store's emitter and the remote subscriber:
// credit across the network, the waiting line of a persistent
// subscription, and the proxy's lifetime.

#include <doctest/doctest.h>

#include <fstream>
#include <memory>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "caf/event_based_actor.hpp"
#include "caf/scoped_actor.hpp"
#include "caf/send.hpp"

#include "actors/type_ids.hpp"
#include "gateway/auth.hpp"
#include "gateway/auth_gate.hpp"
#include "gateway/remote_api.hpp"
#include "stores/messages.hpp"
#include "stores/errc.hpp"
#include "tests/actor/fixture.hpp"

using namespace cxesdb;
using namespace cxesdb::gateway;
using actors::activate_atom_v;
using actors::call_atom_v;
using actors::credit_atom_v;
using actors::dropped_atom_v;
using actors::event_atom_v;
using actors::reply_atom_v;
using actors::rpc_atom_v;
using nlohmann::json;
using stores::errc;

namespace {

/// The lines the fake gateway received, with the actor to answer.
using received = std::vector<std::pair<std::string, caf::actor>>;

struct api_fixture : tests::actor_fixture {
  std::shared_ptr<received> lines = std::make_shared<received>();
  /// The principal each line came with ("-": none, the API's own form
  /// without authentication).
  std::shared_ptr<std::vector<std::string>> principals
    = std::make_shared<std::vector<std::string>>();
  caf::actor gateway;
  api_actor api;

  ~api_fixture() {
    // The actor system waits for every actor: stop both.
    caf::anon_send_exit(gateway, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(api, caf::exit_reason::user_shutdown);
    sched.run();
  }

  void start(remote_api_config cfg) {
    auto log = lines;
    auto who = principals;
    gateway = sys.spawn([log, who](caf::event_based_actor*) -> caf::behavior {
      return {
        [log, who](actors::rpc_atom, std::string& line, caf::actor& reply_to) {
          log->emplace_back(std::move(line), std::move(reply_to));
          who->push_back("-");
        },
        [log, who](actors::rpc_atom, std::string& line, caf::actor& reply_to,
                   std::string& principal) {
          log->emplace_back(std::move(line), std::move(reply_to));
          who->push_back(std::move(principal));
        },
      };
    });
    api = spawn_remote_api(sys, gateway, std::move(cfg));
    sched.run();
  }

  void call(const std::string& method, const std::string& params) {
    self->send(api, call_atom_v, method, params);
    sched.run();
  }

  /// The gateway's answer to the call with `id`.
  void answer(uint64_t id, json body) {
    json resp{{"jsonrpc", "2.0"}, {"id", id}};
    resp.update(body);
    caf::anon_send(lines->at(id - 1).second, reply_atom_v, resp.dump());
    sched.run();
  }

  std::string take_result() {
    std::string out;
    bool got = false;
    self->receive([&](std::string& r) {
      out = std::move(r);
      got = true;
    },
    [&](caf::error& e) { FAIL("unexpected error " << sys.render(e)); },
    caf::after(std::chrono::seconds(0)) >> [] {});
    REQUIRE(got);
    return out;
  }

  caf::error take_error() {
    caf::error out;
    self->receive([&](caf::error& e) { out = std::move(e); },
                  [&](std::string& r) { FAIL("expected an error, got " << r); },
                  caf::after(std::chrono::seconds(0)) >> [] {});
    REQUIRE(out);
    CHECK(out.category() == caf::atom("cxesdb"));
    return out;
  }

  bool mailbox_empty() {
    bool empty = true;
    self->receive([&](caf::message&) { empty = false; },
                  caf::after(std::chrono::seconds(0)) >> [] {});
    return empty;
  }

  static json data_of(const caf::error& e) {
    REQUIRE(e.context().match_elements<std::string, std::string>());
    return json::parse(e.context().get_as<std::string>(1));
  }
};

} // namespace

TEST_CASE_FIXTURE(api_fixture, "a call becomes one JSON-RPC request line") {
  start({});
  call("get_version", R"({"stream":"s"})");
  REQUIRE(lines->size() == 1);
  auto req = json::parse(lines->at(0).first);
  CHECK(req == json{{"jsonrpc", "2.0"},
                    {"id", 1},
                    {"method", "get_version"},
                    {"params", {{"stream", "s"}}}});
  answer(1, {{"result", {{"version", 3}}}});
  CHECK(json::parse(take_result()) == json{{"version", 3}});
  // Empty params are {}.
  call("health", "");
  REQUIRE(lines->size() == 2);
  CHECK(json::parse(lines->at(1).first)["params"] == json::object());
}

TEST_CASE_FIXTURE(api_fixture, "an error response becomes a caf::error") {
  start({});
  call("append_events", R"({"stream":"s","expected_version":0,"events":[]})");
  json data{{"reason", "wrong_expected_version"},
            {"current_version", 1},
            {"expected_version", 0}};
  answer(1, {{"error",
              {{"code", -32003}, {"message", "expected 0"}, {"data", data}}}});
  auto e = take_error();
  CHECK(static_cast<errc>(e.code()) == errc::wrong_expected_version);
  CHECK(e.context().get_as<std::string>(0) == "expected 0");
  CHECK(data_of(e) == data);
}

TEST_CASE_FIXTURE(api_fixture, "calls beyond calls_in_flight_max are "
                               "overloaded at once") {
  remote_api_config cfg;
  cfg.calls_in_flight_max = 2;
  start(cfg);
  call("health", "{}");
  call("health", "{}");
  call("health", "{}");
  CHECK(lines->size() == 2);
  auto e = take_error();
  CHECK(static_cast<errc>(e.code()) == errc::overloaded);
  CHECK(data_of(e)["reason"] == "overloaded");
  // An answer frees a place.
  answer(1, {{"result", {{"status", "ok"}}}});
  take_result();
  call("health", "{}");
  CHECK(lines->size() == 3);
}

TEST_CASE_FIXTURE(api_fixture, "a call the gateway never answers times out") {
  start({});
  call("get_events", R"({"stream":"s"})");
  REQUIRE(lines->size() == 1);
  CHECK(mailbox_empty());
  sched.trigger_timeouts();
  sched.run();
  auto e = take_error();
  CHECK(static_cast<errc>(e.code()) == errc::timeout);
  // A late answer finds no call and is dropped.
  answer(1, {{"result", {{"events", json::array()}}}});
  CHECK(mailbox_empty());
}

TEST_CASE_FIXTURE(api_fixture, "params are checked before they reach the "
                               "gateway") {
  remote_api_config cfg;
  cfg.message_bytes_max = 1024;
  start(cfg);
  call("health", "{\"a\":");
  CHECK(static_cast<errc>(take_error().code()) == errc::parse_error);
  call("health", "{\"pad\":\"" + std::string(2000, 'x') + "\"}");
  auto big = take_error();
  CHECK(static_cast<errc>(big.code()) == errc::too_large);
  CHECK(data_of(big)["limit"] == 1024);
  call("health", std::string(300, '[') + std::string(300, ']'));
  auto deep = take_error();
  CHECK(static_cast<errc>(deep.code()) == errc::too_large);
  CHECK(data_of(deep)["limit"] == 256);
  for (auto m : {"save_subscription", "unsubscribe", "ack_event"}) {
    call(m, "{}");
    CHECK(static_cast<errc>(take_error().code()) == errc::method_not_found);
  }
  CHECK(lines->empty());
  // JSON that is no object goes on: the gateway answers it (invalid_params).
  call("health", "[1]");
  CHECK(lines->size() == 1);
}

TEST_CASE_FIXTURE(api_fixture, "calls in work are answered unavailable when "
                               "the gateway stops") {
  start({});
  call("health", "{}");
  call("get_version", R"({"stream":"s"})");
  REQUIRE(lines->size() == 2);
  self->monitor(api);
  caf::anon_send_exit(gateway, caf::exit_reason::user_shutdown);
  sched.run();
  CHECK(static_cast<errc>(take_error().code()) == errc::unavailable);
  CHECK(static_cast<errc>(take_error().code()) == errc::unavailable);
  // The API actor is gone with the gateway.
  bool down = false;
  self->receive([&](const caf::down_msg& msg) { down = msg.source == api; },
                caf::after(std::chrono::seconds(0)) >> [] {});
  CHECK(down);
}

// -- remote subscribers -----------------------------------------------------------

namespace {

/// The API actor with one remote subscriber (`sub`) and the store's emitter
/// (`em`), both played by the test.
struct subscriber_fixture : api_fixture {
  caf::scoped_actor sub{sys};
  caf::scoped_actor em{sys};

  /// The proxy of the last save_subscription.
  caf::actor proxy;

  /// Calls save_subscription for `who` (`sub` when invalid) and answers it
  /// as a worker would: the response to the proxy, then the activation.
  /// The emitter gets its first credit: returns it.
  int64_t subscribe(const std::string& id, int64_t max_in_flight,
                    bool persistent, caf::actor who = {}) {
    if (!who)
      who = caf::actor{sub};
    self->send(api, call_atom_v, std::string{"save_subscription"},
               std::string{"{}"}, who);
    sched.run();
    auto n = lines->size();
    REQUIRE(n > 0);
    proxy = lines->back().second;
    CHECK(proxy != caf::actor_cast<caf::actor>(api));
    json resp{{"jsonrpc", "2.0"},
              {"id", json::parse(lines->back().first)["id"]},
              {"result", {{"subscription", id}, {"checkpoint", -1}}}};
    caf::anon_send(proxy, reply_atom_v, resp.dump());
    caf::anon_send(proxy, activate_atom_v, std::string{"s"}, id,
                   caf::actor{em}, max_in_flight, persistent);
    sched.run();
    CHECK(json::parse(take_result())["subscription"] == id);
    return credit_to_emitter(id);
  }

  /// The credit the proxy granted the emitter since the last look (0:
  /// none).
  int64_t credit_to_emitter(const std::string& id) {
    int64_t total = 0;
    for (bool more = true; more;) {
      more = false;
      em->receive(
        [&](actors::credit_atom, const std::string& sub_id, int64_t n,
            const caf::actor& who) {
          CHECK(sub_id == id);
          CHECK(who == proxy);
          total += n;
          more = true;
        },
        caf::after(std::chrono::seconds(0)) >> [] {});
    }
    return total;
  }

  /// The emitter delivers events at positions [first, first + n).
  void emit(const std::string& id, int64_t first, int64_t n) {
    std::vector<stores::recorded_event> events;
    for (int64_t p = first; p < first + n; ++p) {
      stores::recorded_event e;
      e.stream_id = "s-1";
      e.event_number = p;
      e.position = p;
      e.event_id = "00000000-0000-7000-8000-000000000000";
      e.event_type = "T";
      e.data = "{}";
      e.metadata = "null";
      e.content_type = "application/json";
      events.push_back(std::move(e));
    }
    em->send(proxy, event_atom_v, std::string{"s"}, id, std::move(events));
    sched.run();
  }

  /// The positions the subscriber received since the last look, checking
  /// that every message is one of `id`'s event batches.
  std::vector<int64_t> received(const std::string& id) {
    std::vector<int64_t> out;
    for (bool more = true; more;) {
      more = false;
      sub->receive(
        [&](actors::event_atom, const std::string& store,
            const std::string& sub_id, const std::vector<std::string>& evs) {
          CHECK(store == "s");
          CHECK(sub_id == id);
          CHECK(sub->current_sender() == proxy);
          for (auto& e : evs)
            out.push_back(json::parse(e)["position"].get<int64_t>());
          more = true;
        },
        caf::after(std::chrono::seconds(0)) >> [] {});
    }
    return out;
  }

  /// The subscriber is done with `n` events.
  void give_credit(const std::string& id, int64_t n) {
    sub->send(proxy, credit_atom_v, std::string{"s"}, id, n);
    sched.run();
  }

  /// The reason of a `dropped` the subscriber received, or "" for none.
  std::string dropped(const std::string& id) {
    std::string out;
    sub->receive(
      [&](actors::dropped_atom, const std::string& store,
          const std::string& sub_id, const std::string& reason) {
        CHECK(store == "s");
        CHECK(sub_id == id);
        out = reason;
      },
      caf::after(std::chrono::seconds(0)) >> [] {});
    return out;
  }
};

std::vector<int64_t> positions(int64_t first, int64_t n) {
  std::vector<int64_t> out;
  for (int64_t p = first; p < first + n; ++p)
    out.push_back(p);
  return out;
}

} // namespace

TEST_CASE_FIXTURE(subscriber_fixture, "a transient remote subscriber gets "
                                      "events as far as its credit goes, "
                                      "and the emitter only the credit that "
                                      "came back") {
  start({});
  CHECK(subscribe("transient-1", 3, false) == 3);
  // One message of three events, each the protocol's event object.
  emit("transient-1", 0, 3);
  CHECK(received("transient-1") == positions(0, 3));
  CHECK(credit_to_emitter("transient-1") == 0);
  // The subscriber is done with two: the emitter may send two more.
  give_credit("transient-1", 2);
  CHECK(credit_to_emitter("transient-1") == 2);
  emit("transient-1", 3, 2);
  CHECK(received("transient-1") == positions(3, 2));
  // Credit beyond what is out (3 events) is clamped.
  give_credit("transient-1", 100);
  CHECK(credit_to_emitter("transient-1") == 3);
  give_credit("transient-1", 1);
  CHECK(credit_to_emitter("transient-1") == 0);
  // Events of a subscription the proxy does not hold go nowhere.
  emit("transient-9", 0, 1);
  CHECK(received("transient-9").empty());
}

TEST_CASE_FIXTURE(subscriber_fixture, "a persistent subscription's events "
                                      "wait in the proxy for credit, at most "
                                      "max_in_flight of them") {
  start({});
  // The first credit only tells the emitter the subscriber is ready.
  CHECK(subscribe("p", 2, true) == 2);
  emit("p", 0, 2);
  CHECK(received("p") == positions(0, 2));
  // Acks made room at the emitter, but the subscriber holds two events it
  // is not done with: the third waits.
  emit("p", 2, 1);
  CHECK(received("p").empty());
  give_credit("p", 1);
  CHECK(received("p") == positions(2, 1));
  // A persistent emitter is bounded by acks, not credit.
  CHECK(credit_to_emitter("p") == 0);
  // More waiting than max_in_flight can only be a subscriber that acked
  // events it never received: its subscription is dropped.
  emit("p", 3, 2);
  CHECK(dropped("p").empty());
  emit("p", 5, 1);
  CHECK(dropped("p") == "slow_consumer");
  bool left = false;
  em->receive([&](caf::leave_atom, const caf::actor& who) { left = who == proxy; },
              caf::after(std::chrono::seconds(0)) >> [] {});
  CHECK(left);
  give_credit("p", 2);
  CHECK(received("p").empty());
}

TEST_CASE_FIXTURE(subscriber_fixture, "a subscriber's calls go through its "
                                      "proxy; the proxy ends with its "
                                      "subscriber") {
  remote_api_config cfg;
  cfg.subscribers_max = 1;
  start(cfg);
  // A subscriber the test can stop.
  auto victim = sys.spawn([](caf::event_based_actor*) -> caf::behavior {
    return {[](int) {}};
  });
  // Before any save_subscription the subscriber has no proxy: its
  // unsubscribe goes with the API actor as the connection, which holds no
  // subscription (the gateway answers not_found).
  self->send(api, call_atom_v, std::string{"unsubscribe"},
             std::string{R"({"subscription":"p"})"}, victim);
  sched.run();
  REQUIRE(lines->size() == 1);
  CHECK(lines->back().second == caf::actor_cast<caf::actor>(api));
  answer(1, {{"error",
              {{"code", -32001},
               {"message", "not subscribed to p"},
               {"data", {{"reason", "not_found"}, {"what", "subscription"}}}}}});
  CHECK(static_cast<errc>(take_error().code()) == errc::not_found);
  subscribe("p", 4, true, victim);
  auto first = proxy;
  // Other methods with a subscriber are plain calls.
  self->send(api, call_atom_v, std::string{"health"}, std::string{}, victim);
  sched.run();
  CHECK(lines->back().second == caf::actor_cast<caf::actor>(api));
  // The same subscriber's ack_event and a second save_subscription go
  // through the same proxy.
  self->send(api, call_atom_v, std::string{"ack_event"},
             std::string{R"({"subscription":"p","position":0})"}, victim);
  sched.run();
  CHECK(lines->back().second == first);
  subscribe("p", 4, true, victim);
  CHECK(proxy == first);
  // One remote subscriber at most: another one is overloaded.
  self->send(api, call_atom_v, std::string{"save_subscription"},
             std::string{"{}"}, caf::actor{sub});
  sched.run();
  CHECK(static_cast<errc>(take_error().code()) == errc::overloaded);
  // A call on behalf of no actor at all is refused.
  self->send(api, call_atom_v, std::string{"ack_event"}, std::string{"{}"},
             caf::actor{});
  sched.run();
  CHECK(static_cast<errc>(take_error().code()) == errc::invalid_params);
  // The subscriber goes away (its client stopped it, or the connection to
  // its node was lost): the proxy quits, and the emitter, which monitors
  // it, drops it. Its place is free again.
  self->monitor(first);
  caf::anon_send_exit(victim, caf::exit_reason::user_shutdown);
  sched.run();
  bool down = false;
  self->receive([&](const caf::down_msg& msg) { down = msg.source == first; },
                caf::after(std::chrono::seconds(0)) >> [] {});
  CHECK(down);
  subscribe("transient-1", 4, false);
  CHECK(proxy != first);
}

TEST_CASE_FIXTURE(subscriber_fixture, "when the node stops, subscribers "
                                      "hear store_stopped") {
  start({});
  subscribe("transient-1", 8, false);
  subscribe("transient-2", 8, false);
  self->monitor(proxy);
  caf::anon_send_exit(gateway, caf::exit_reason::user_shutdown);
  sched.run();
  CHECK(dropped("transient-1") == "store_stopped");
  CHECK(dropped("transient-2") == "store_stopped");
  bool down = false;
  self->receive([&](const caf::down_msg& msg) { down = msg.source == proxy; },
                caf::after(std::chrono::seconds(0)) >> [] {});
  CHECK(down);
}

namespace {

/// An API in front of the fake gateway with an auth file of one user.
struct auth_api_fixture : api_fixture {
  static constexpr const char* token = "a-token-of-the-admin-0123456789";
  tests::temp_dir dir{"cxesdb-api-auth"};
  std::shared_ptr<auth_registry> auth;

  auth_api_fixture() {
    auto path = dir.path + "/auth.json";
    std::ofstream{path} << json{{"users",
                                 {{{"name", "ops"},
                                   {"token_sha256", to_hex(sha256(token))},
                                   {"role", "admin"}}}}}
                             .dump();
    auth = std::make_shared<auth_registry>(path);
    std::string err;
    REQUIRE(auth->load(err));
  }

  void start_with(remote_api_config cfg) {
    cfg.auth = auth;
    start(std::move(cfg));
  }

  void authenticate(const std::string& t) {
    call("authenticate", json{{"token", t}}.dump());
  }

  static std::string digest() {
    auto d = sha256(token);
    return std::string{reinterpret_cast<const char*>(d.data()), d.size()};
  }
};

} // namespace

TEST_CASE_FIXTURE(auth_api_fixture, "with an auth file, the API signs in "
                                    "the calling node with authenticate") {
  start_with({});
  // Before: a call reaches the gateway without a principal, which answers
  // it unauthorized (gateway/auth_check.hpp).
  call("get_version", R"({"stream":"s"})");
  REQUIRE(lines->size() == 1);
  CHECK(principals->at(0).empty());
  answer(1, {{"error",
              {{"code", -32006},
               {"message", "authenticate first"},
               {"data", {{"reason", "unauthorized"}}}}}});
  CHECK(static_cast<errc>(take_error().code()) == errc::unauthorized);
  // The API answers authenticate itself; the gateway never sees the token.
  authenticate(token);
  CHECK(json::parse(take_result())["authenticated"] == true);
  CHECK(lines->size() == 1);
  // After: every call of this node carries the user's digest.
  call("get_version", R"({"stream":"s"})");
  REQUIRE(lines->size() == 2);
  CHECK(principals->at(1) == digest());
  CHECK(lines->at(1).first.find(token) == std::string::npos);
}

TEST_CASE_FIXTURE(auth_api_fixture, "five wrong tokens shut the calling node "
                                    "out for auth_lockout") {
  remote_api_config cfg;
  cfg.auth_lockout = std::chrono::seconds{60};
  start_with(cfg);
  for (size_t i = 0; i < auth_gate::failures_max; ++i) {
    authenticate("a-wrong-token-0123456789");
    auto e = take_error();
    CHECK(static_cast<errc>(e.code()) == errc::unauthorized);
    CHECK(e.context().get_as<std::string>(0).find("wrong-token")
          == std::string::npos);
  }
  // Locked: even the right token is refused, and nothing reaches the
  // gateway.
  authenticate(token);
  CHECK(static_cast<errc>(take_error().code()) == errc::unauthorized);
  call("health", "{}");
  CHECK(static_cast<errc>(take_error().code()) == errc::unauthorized);
  CHECK(lines->empty());
  sched.advance_time(std::chrono::seconds{59});
  authenticate(token);
  CHECK(static_cast<errc>(take_error().code()) == errc::unauthorized);
  // Once the lockout is over, the node starts afresh.
  sched.advance_time(std::chrono::seconds{2});
  authenticate(token);
  CHECK(json::parse(take_result())["authenticated"] == true);
}

TEST_CASE_FIXTURE(auth_api_fixture, "an anonymous call cannot authenticate") {
  start_with({});
  caf::anon_send(api, call_atom_v, std::string{"health"}, std::string{"{}"});
  sched.run();
  CHECK(lines->empty());
}
