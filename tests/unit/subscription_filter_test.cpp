// The matching rules of the four subscription types.

#include <doctest/doctest.h>

#include "stores/subscription_filter.hpp"

using namespace cxesdb::stores;
using nlohmann::json;

namespace {

recorded_event event(const std::string& stream, const std::string& type,
                     const std::string& data,
                     const std::string& metadata = "null") {
  recorded_event e;
  e.stream_id = stream;
  e.event_type = type;
  e.data = data;
  e.metadata = metadata;
  e.content_type = "application/json";
  e.event_id = "00000000-0000-7000-8000-000000000001";
  e.position = 5;
  e.event_number = 2;
  return e;
}

subscription_filter filter(const std::string& type, const json& selector) {
  subscription_filter f;
  std::string err;
  REQUIRE(subscription_filter::parse(type, selector, f, err));
  return f;
}

} // namespace

TEST_CASE("by_stream selects one stream or $all") {
  auto one = filter("by_stream", "orders");
  CHECK(one.matches(event("orders", "T", "{}")));
  CHECK_FALSE(one.matches(event("orders-2", "T", "{}")));
  auto all = filter("by_stream", "$all");
  CHECK(all.matches(event("anything", "T", "{}")));
}

TEST_CASE("by_event_type selects by exact type") {
  auto f = filter("by_event_type", "OrderPlaced");
  CHECK(f.matches(event("s", "OrderPlaced", "{}")));
  CHECK_FALSE(f.matches(event("s", "orderplaced", "{}")));
  CHECK_FALSE(f.matches(event("s", "OrderPlacedV2", "{}")));
}

TEST_CASE("by_event_payload matches a subset of the data, nested") {
  auto f = filter("by_event_payload", json{{"order", {{"region", "eu"}}}});
  CHECK(f.matches(event("s", "T", R"({"order":{"region":"eu","id":1}})")));
  CHECK_FALSE(f.matches(event("s", "T", R"({"order":{"region":"us"}})")));
  CHECK_FALSE(f.matches(event("s", "T", R"({"order":"eu"})")));  // type
  CHECK_FALSE(f.matches(event("s", "T", R"({"other":1})")));     // missing
  CHECK_FALSE(f.matches(event("s", "T", R"([1,2])")));           // not object
}

TEST_CASE("values must be equal: numbers by value, arrays whole, null") {
  CHECK(json_subset(json{{"n", 1}}, json{{"n", 1.0}}));
  CHECK_FALSE(json_subset(json{{"n", 1}}, json{{"n", "1"}}));
  CHECK(json_subset(json{{"a", {1, 2}}}, json{{"a", {1, 2}}}));
  CHECK_FALSE(json_subset(json{{"a", {1, 2}}}, json{{"a", {1, 2, 3}}}));
  CHECK_FALSE(json_subset(json{{"a", {2, 1}}}, json{{"a", {1, 2}}}));
  CHECK(json_subset(json{{"a", nullptr}}, json{{"a", nullptr}}));
  CHECK_FALSE(json_subset(json{{"a", nullptr}}, json::object()));
  CHECK(json_subset(json::object(), json{{"x", 1}})); // empty matches all
  CHECK(json_subset(json{{"b", true}}, json{{"b", true}, {"c", false}}));
}

TEST_CASE("by_event_pattern matches the whole event record") {
  auto f = filter("by_event_pattern",
                  json{{"event_type", "T"}, {"metadata", {{"tenant", 7}}}});
  CHECK(f.matches(event("s", "T", "{}", R"({"tenant":7,"x":1})")));
  CHECK_FALSE(f.matches(event("s", "T", "{}", R"({"tenant":8})")));
  CHECK_FALSE(f.matches(event("s", "U", "{}", R"({"tenant":7})")));
  CHECK_FALSE(f.matches(event("s", "T", "{}")));
  auto by_stream = filter("by_event_pattern",
                          json{{"stream_id", "s"}, {"event_number", 2}});
  CHECK(by_stream.matches(event("s", "T", "{}")));
  auto unknown = filter("by_event_pattern", json{{"nope", 1}});
  CHECK_FALSE(unknown.matches(event("s", "T", "{}")));
}

TEST_CASE("binary events never match a payload selector") {
  auto f = filter("by_event_payload", json::object());
  auto e = event("s", "T", "\"AAEC\"");
  e.content_type = "application/octet-stream";
  CHECK_FALSE(f.matches(e));
}

TEST_CASE("bad selectors are refused with a reason") {
  subscription_filter f;
  std::string err;
  CHECK_FALSE(subscription_filter::parse("by_stream", 5, f, err));
  CHECK_FALSE(subscription_filter::parse("by_event_type", "", f, err));
  CHECK_FALSE(subscription_filter::parse("by_event_payload", "x", f, err));
  CHECK_FALSE(subscription_filter::parse("by_magic", "x", f, err));
  CHECK_FALSE(err.empty());
}
