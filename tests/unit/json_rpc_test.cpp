// The protocol layer without a node: validation and formatting.

#include <doctest/doctest.h>

#include "gateway/json_rpc.hpp"
#include "gateway/uuid.hpp"

using namespace cxesdb::gateway;
using nlohmann::json;

namespace {

struct ctx_fixture {
  rpc_limits limits;
  std::string default_store = "default";
  uuid_generator uuids{42};
  parse_context ctx{&limits, &default_store, &uuids, 1764115199123456};

  rpc_error fails(method m, const json& params) {
    auto r = parse_call(m, params, ctx);
    REQUIRE(std::holds_alternative<rpc_error>(r));
    return std::get<rpc_error>(r);
  }

  parsed_call parses(method m, const json& params) {
    auto r = parse_call(m, params, ctx);
    if (auto e = std::get_if<rpc_error>(&r))
      FAIL("unexpected error: " << e->message);
    return std::get<parsed_call>(r);
  }
};

} // namespace

TEST_CASE("json_depth counts nesting outside strings") {
  CHECK(json_depth("1") == 0);
  CHECK(json_depth("[[{}]]") == 3);
  CHECK(json_depth(R"({"a":"[[[[\"[["})") == 1);
  CHECK(json_depth(std::string(1000, '[')) == 1000);
}

TEST_CASE_FIXTURE(ctx_fixture, "store ids are checked before anything else") {
  for (auto bad : {"../etc", "A", "_system", "1abc", ""}) {
    auto e = fails(method::get_version, json{{"store", bad}, {"stream", "s"}});
    CHECK(e.reason == cxesdb::stores::errc::invalid_params);
    CHECK(e.data["field"] == "store");
  }
  CHECK(parses(method::get_version, json{{"stream", "s"}}).store == "default");
}

TEST_CASE_FIXTURE(ctx_fixture, "unknown params name the field") {
  auto e = fails(method::get_version, json{{"stream", "s"}, {"strem", 1}});
  CHECK(e.data["field"] == "strem");
}

TEST_CASE_FIXTURE(ctx_fixture, "event ids are generated as UUIDv7 or checked") {
  auto call = parses(method::append_events,
                     json{{"stream", "s"},
                          {"events", json::array({{{"event_type", "T"},
                                                   {"data", 1}}})}});
  auto& cmd = std::get<cxesdb::stores::append_cmd>(call.cmd);
  REQUIRE(cmd.events.size() == 1);
  CHECK(valid_uuid(cmd.events[0].event_id));
  CHECK(cmd.events[0].event_id[14] == '7');
  CHECK(cmd.created_epoch_us == 1764115199123456);
  auto e = fails(method::append_events,
                 json{{"stream", "s"},
                      {"events", json::array({{{"event_type", "T"},
                                               {"data", 1},
                                               {"event_id", "nope"}}})}});
  CHECK(e.data["field"] == "events[0].event_id");
}

TEST_CASE_FIXTURE(ctx_fixture, "the event size limit names its limit") {
  limits.event_bytes_max = 100;
  auto e = fails(method::append_events,
                 json{{"stream", "s"},
                      {"events", json::array({{{"event_type", "T"},
                                               {"data", std::string(200, 'x')}}})}});
  CHECK(e.reason == cxesdb::stores::errc::too_large);
  CHECK(e.data["limit"] == 100);
}

TEST_CASE_FIXTURE(ctx_fixture, "subscription params") {
  auto call = parses(method::save_subscription,
                     json{{"type", "by_event_payload"},
                          {"selector", {{"a", 1}}},
                          {"name", "billing"},
                          {"start_from", 5}});
  CHECK(call.subscribe.persistent());
  CHECK(call.subscribe.start.value == 5);
  CHECK(fails(method::save_subscription, json{{"type", "x"}, {"selector", 1}})
          .data["field"]
        == "type");
  CHECK(fails(method::save_subscription,
              json{{"type", "by_stream"}, {"selector", 1}})
          .data["field"]
        == "selector");
  CHECK(fails(method::save_subscription,
              json{{"type", "by_stream"}, {"selector", "$all"},
                   {"max_in_flight", 0}})
          .data["field"]
        == "max_in_flight");
  CHECK(fails(method::remove_subscription,
              json{{"type", "by_stream"}, {"selector", "$all"}})
          .data["field"]
        == "name");
}
