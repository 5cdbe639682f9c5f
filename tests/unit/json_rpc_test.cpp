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

TEST_CASE_FIXTURE(ctx_fixture, "backup names match the store id pattern") {
  auto b = parses(method::backup_store, {{"store", "s"}, {"name", "nightly_1"}});
  CHECK(b.store == "s");
  CHECK(b.backup == "nightly_1");
  CHECK(parses(method::backup_store, {{"name", "n"}}).store == "default");
  for (auto name : {"..", "a/b", "../a", "", "A", "1a", "a.b", "_a"}) {
    CHECK(fails(method::backup_store, {{"name", name}}).data["field"] == "name");
    CHECK(fails(method::restore_store, {{"store", "x"}, {"backup", name}})
            .data["field"]
          == "backup");
  }
  std::string longest = "a" + std::string(62, 'b');
  CHECK(parses(method::backup_store, {{"name", longest}}).backup == longest);
  CHECK(fails(method::backup_store, {{"name", longest + "c"}}).data["field"]
        == "name");
  CHECK(fails(method::backup_store, json::object()).data["field"] == "name");
  CHECK(fails(method::restore_store, {{"backup", "b"}}).data["field"]
        == "store");
  CHECK(fails(method::restore_store, {{"store", "x"}}).data["field"]
        == "backup");
  CHECK(fails(method::list_backups, {{"name", "x"}}).data["field"] == "name");
}

TEST_CASE_FIXTURE(ctx_fixture, "create_store's template: the template's "
                               "config, overridden by the request's") {
  json templates = {{"small", {{"timeout_ms", 5000},
                               {"description", "small"},
                               {"tags", {"t"}},
                               {"retention", {{"max_count", 2}}}}},
                    {"empty", json::object()}};
  REQUIRE(!check_store_templates(templates));
  ctx.store_templates = &templates;
  auto c = parses(method::create_store, {{"store", "a"}, {"template", "small"}});
  CHECK(c.config.timeout_ms == 5000);
  CHECK(c.config.description == "small");
  CHECK(c.config.tags == std::vector<std::string>{"t"});
  CHECK(c.config.retention_max_count == 2);
  auto o = parses(method::create_store,
                  {{"store", "a"},
                   {"template", "small"},
                   {"config", {{"timeout_ms", 9000}, {"tags", {"u", "v"}}}}});
  CHECK(o.config.timeout_ms == 9000);
  CHECK(o.config.description == "small");
  CHECK(o.config.tags == std::vector<std::string>{"u", "v"});
  CHECK(parses(method::create_store, {{"store", "a"}, {"template", "empty"}})
          .config.timeout_ms
        == cxesdb::stores::store_config::timeout_ms_default);
  auto unknown = fails(method::create_store,
                       {{"store", "a"}, {"template", "large"}});
  CHECK(unknown.data["field"] == "template");
  CHECK(unknown.message.find("small") != std::string::npos);
  CHECK(fails(method::create_store, {{"store", "a"}, {"template", 3}})
          .data["field"]
        == "template");
  CHECK(fails(method::create_store, {{"store", "a"},
                                     {"template", "small"},
                                     {"config", {{"bogus", 1}}}})
          .data["field"]
        == "config.bogus");
  ctx.store_templates = nullptr;
  CHECK(fails(method::create_store, {{"store", "a"}, {"template", "small"}})
          .data["field"]
        == "template");
}

TEST_CASE("check_store_templates refuses what create_store would") {
  CHECK(!check_store_templates(json::object()));
  CHECK(check_store_templates(json::array()));
  CHECK(check_store_templates({{"t", {{"bogus", 1}}}})->find("store_templates.t")
        != std::string::npos);
  CHECK(check_store_templates({{"t", 5}}));
  CHECK(check_store_templates({{"t", {{"timeout_ms", 0}}}}));
  CHECK(check_store_templates({{"bad name", json::object()}}));
  CHECK(check_store_templates({{std::string(65, 'a'), json::object()}}));
  CHECK(!check_store_templates({{std::string(64, 'a'), json::object()}}));
}
