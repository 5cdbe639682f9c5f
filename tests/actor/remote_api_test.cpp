// The API actor (gateway/remote_api.hpp) on the deterministic scheduler,
// in front of a fake gateway that records request lines and answers only
// when the test says so: request lines, results, errors with their context,
// the calls-in-flight limit, the deadline, checks of the params text, and
// what happens to calls in work when the gateway stops.

#include <doctest/doctest.h>

#include <memory>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "caf/event_based_actor.hpp"
#include "caf/send.hpp"

#include "actors/type_ids.hpp"
#include "gateway/remote_api.hpp"
#include "stores/errc.hpp"
#include "tests/actor/fixture.hpp"

using namespace cxesdb;
using namespace cxesdb::gateway;
using actors::call_atom_v;
using actors::reply_atom_v;
using actors::rpc_atom_v;
using nlohmann::json;
using stores::errc;

namespace {

/// The lines the fake gateway received, with the actor to answer.
using received = std::vector<std::pair<std::string, caf::actor>>;

struct api_fixture : tests::actor_fixture {
  std::shared_ptr<received> lines = std::make_shared<received>();
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
    gateway = sys.spawn([log](caf::event_based_actor*) -> caf::behavior {
      return {
        [log](actors::rpc_atom, std::string& line, caf::actor& reply_to) {
          log->emplace_back(std::move(line), std::move(reply_to));
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
