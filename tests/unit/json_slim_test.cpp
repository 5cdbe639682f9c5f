// The slim parse of append_events: event data stays out of the DOM and is
// stored as the client sent it; anything unusual takes the full parse.

#include <doctest/doctest.h>

#include "gateway/json_rpc.hpp"
#include "gateway/json_slim.hpp"
#include "gateway/uuid.hpp"

using namespace cxesdb::gateway;
using nlohmann::json;

namespace {

/// Parses `line` the way a gateway worker does: slim when it can.
struct slim_parse {
  rpc_limits limits;
  std::string default_store = "default";
  uuid_generator uuids{7};
  std::string slim;
  std::vector<raw_event_text> raw;
  bool slimmed = false;

  std::variant<parsed_call, rpc_error> run(const std::string& line) {
    slimmed = slim_append(line, slim, raw);
    auto j = json::parse(slimmed ? slim : line);
    parse_context ctx{&limits, &default_store, &uuids, 1764115199123456,
                      slimmed ? &raw : nullptr};
    return parse_call(method::append_events, j["params"], ctx);
  }

  parsed_call parses(const std::string& line) {
    auto r = run(line);
    if (auto e = std::get_if<rpc_error>(&r))
      FAIL("unexpected error: " << e->message);
    return std::get<parsed_call>(r);
  }
};

std::string request(const std::string& events) {
  return R"({"jsonrpc":"2.0","id":1,"method":"append_events","params":{"stream":"s","events":)"
         + events + "}}";
}

} // namespace

TEST_CASE("the data of an append is kept as received") {
  slim_parse p;
  auto line = request(
    R"([{"event_type":"a","data": { "x" : [1, 2.50, "}]\"{["] , "y":{"z":null} } ,)"
    R"("metadata":[ true ]},)"
    R"({"event_type":"b","data":"text","metadata":{"k":"v"}}])");
  auto call = p.parses(line);
  REQUIRE(p.slimmed);
  REQUIRE(call.cmd.index() == 0);
  auto& a = std::get<cxesdb::stores::append_cmd>(call.cmd);
  REQUIRE(a.events.size() == 2);
  CHECK(a.events[0].data
        == R"({ "x" : [1, 2.50, "}]\"{["] , "y":{"z":null} })");
  CHECK(a.events[0].metadata == "[ true ]");
  // Strings, numbers and literals are small: they come from the DOM.
  CHECK(a.events[1].data == R"("text")");
  CHECK(a.events[1].metadata == R"({"k":"v"})");
  CHECK(p.slim.find("\"x\"") == std::string::npos);
}

TEST_CASE("the slim parse gives what the full parse gives, up to whitespace") {
  slim_parse p;
  auto events = R"([{"event_type":"a","event_id":"0190c8a4-7b1a-7000-8000-000000000001",)"
                R"("data":{"a":{"b":[{"c":"\u00e9\n"}]}},"content_type":"application/json"}])";
  auto slim_call = p.parses(request(events));
  REQUIRE(p.slimmed);
  auto& s = std::get<cxesdb::stores::append_cmd>(slim_call.cmd);
  rpc_limits limits;
  std::string store = "default";
  uuid_generator uuids{7};
  parse_context ctx{&limits, &store, &uuids, 1764115199123456};
  auto full = parse_call(method::append_events, json::parse(request(events))["params"], ctx);
  auto& f = std::get<cxesdb::stores::append_cmd>(std::get<parsed_call>(full).cmd);
  CHECK(json::parse(s.events[0].data) == json::parse(f.events[0].data));
  CHECK(s.events[0].event_id == f.events[0].event_id);
  CHECK(s.events[0].metadata == f.events[0].metadata);
}

TEST_CASE("unusual requests take the full parse") {
  std::string slim;
  std::vector<raw_event_text> raw;
  // Other methods, batches, no structured data, escaped keys.
  CHECK_FALSE(slim_append(R"({"jsonrpc":"2.0","id":1,"method":"get_events","params":{"data":{}}})", slim, raw));
  CHECK_FALSE(slim_append("[" + request(R"([{"event_type":"a","data":{}}])") + "]", slim, raw));
  CHECK_FALSE(slim_append(request(R"([{"event_type":"a","data":1}])"), slim, raw));
  CHECK_FALSE(slim_append(request(R"([{"event_type":"a","d\u0061ta":{"x":1}}])"), slim, raw));
  CHECK_FALSE(slim_append(request(R"({"event_type":"a","data":{}})"), slim, raw));
  // Invalid data: the full parse reports it.
  CHECK_FALSE(slim_append(request(R"([{"event_type":"a","data":{"x":tru}}])"), slim, raw));
  CHECK_FALSE(slim_append(request(R"([{"event_type":"a","data":{"x":1,}}])"), slim, raw));
  CHECK_FALSE(slim_append(request(R"([{"event_type":"a","data":{"x":"unterminated}])"), slim, raw));
  CHECK(slim.empty());
  CHECK(raw.empty());
}

TEST_CASE("the last of duplicate members wins, as in the DOM") {
  slim_parse p;
  auto call = p.parses(request(
    R"([{"event_type":"a","data":{"first":1},"data":{"second":2}}])"));
  REQUIRE(p.slimmed);
  auto& a = std::get<cxesdb::stores::append_cmd>(call.cmd);
  CHECK(a.events[0].data == R"({"second":2})");
}

TEST_CASE("validation still applies to slim requests") {
  slim_parse p;
  // Binary data must be a base64 string: an object is refused.
  auto r = p.run(request(
    R"([{"event_type":"a","data":{"x":1},"content_type":"application/octet-stream"}])"));
  REQUIRE(p.slimmed);
  REQUIRE(std::holds_alternative<rpc_error>(r));
  // The size limit counts the text as received.
  p.limits.event_bytes_max = 64;
  r = p.run(request(R"([{"event_type":"a","data":{"x":")" + std::string(100, 'y')
                    + R"("}}])"));
  REQUIRE(p.slimmed);
  REQUIRE(std::holds_alternative<rpc_error>(r));
  CHECK(std::get<rpc_error>(r).data["limit"] == 64);
}
