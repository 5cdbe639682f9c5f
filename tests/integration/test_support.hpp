#pragma once

// Helpers for the integration tests: JSON-RPC calls that fail the test case
// with the request and the response when the node answers wrongly. Include
// after doctest/doctest.h.

#include <cstdint>
#include <cstdio>
#include <map>
#include <random>
#include <regex>
#include <string>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "gateway/client/json_client.hpp"
#include "tests/integration/node_process.hpp"

namespace cxesdb::tests {

using json = nlohmann::json;
using gateway::json_client;

/// Time the tests wait for one answer. Generous: the machine is shared.
constexpr int rpc_timeout_ms = 30000;

/// JSON-RPC error code of each `data.reason` of protocol.md section 2.
inline int code_of(const std::string& reason) {
  static const std::map<std::string, int> codes{
    {"parse_error", -32700},     {"invalid_request", -32600},
    {"method_not_found", -32601}, {"invalid_params", -32602},
    {"internal_error", -32603},  {"not_found", -32001},
    {"already_exists", -32002},  {"wrong_expected_version", -32003},
    {"unavailable", -32004},     {"timeout", -32005},
    {"unauthorized", -32006},    {"forbidden", -32007},
    {"too_large", -32008},       {"overloaded", -32009},
    {"duplicate_event", -32010}, {"stream_deleted", -32011},
  };
  auto i = codes.find(reason);
  REQUIRE_MESSAGE(i != codes.end(), "unknown reason " << reason);
  return i->second;
}

/// `v` as JSON text, shortened to `max_chars` for failure messages.
inline std::string brief(const json& v, size_t max_chars = 600) {
  auto text = v.dump();
  if (text.size() > max_chars)
    text = text.substr(0, max_chars) + "... (" + std::to_string(text.size())
           + " bytes)";
  return text;
}

/// Sends a request and returns the whole response; fails the test case when
/// none arrives in time.
inline json rpc(json_client& c, const std::string& method,
                json params = json::object(), int timeout_ms = rpc_timeout_ms) {
  auto resp = c.call(method, params, timeout_ms);
  REQUIRE_MESSAGE(resp.has_value(), "no response to " << method << " "
                                                      << brief(params));
  return *resp;
}

/// Checks that `resp` is a well-formed success response and returns its
/// result.
inline json result_of(const json& resp, const std::string& what = {}) {
  INFO("request: " << what);
  INFO("response: " << brief(resp));
  REQUIRE(resp.is_object());
  CHECK(resp.value("jsonrpc", "") == "2.0");
  REQUIRE(resp.contains("result"));
  CHECK(!resp.contains("error"));
  return resp["result"];
}

/// Calls `method` and requires success; returns the result.
inline json ok(json_client& c, const std::string& method,
               json params = json::object()) {
  auto resp = rpc(c, method, params);
  return result_of(resp, method + " " + brief(params));
}

/// Checks that `resp` is an error response with the given reason, the code
/// protocol.md assigns to it and a message; returns `error.data`.
inline json check_error(const json& resp, const std::string& reason,
                        const std::string& what = {}) {
  INFO("request: " << what);
  INFO("response: " << brief(resp));
  REQUIRE(resp.is_object());
  CHECK(resp.value("jsonrpc", "") == "2.0");
  CHECK(!resp.contains("result"));
  REQUIRE(resp.contains("error"));
  auto& e = resp["error"];
  REQUIRE(e.is_object());
  CHECK(e.contains("message"));
  CHECK((e.contains("message") && e["message"].is_string()));
  REQUIRE(e.contains("data"));
  REQUIRE(e["data"].is_object());
  CHECK(e["data"].value("reason", "") == reason);
  CHECK(e.value("code", 0) == code_of(reason));
  return e["data"];
}

/// Calls `method` and requires an error with `reason`; returns `error.data`.
inline json err(json_client& c, const std::string& method, json params,
                const std::string& reason) {
  auto resp = rpc(c, method, params);
  return check_error(resp, reason, method + " " + brief(params));
}

/// Requires invalid_params with `data.field == field`.
inline void expect_invalid(json_client& c, const std::string& method,
                           json params, const std::string& field) {
  auto data = err(c, method, params, "invalid_params");
  INFO("request: " << method << " " << brief(params));
  CHECK(data.value("field", "<missing>") == field);
}

/// Requires not_found with `data.what == what`.
inline void expect_not_found(json_client& c, const std::string& method,
                             json params, const std::string& what) {
  auto data = err(c, method, params, "not_found");
  INFO("request: " << method << " " << brief(params));
  CHECK(data.value("what", "<missing>") == what);
}

/// Reads one message; fails the test case when none arrives in time or it is
/// not JSON.
inline json read_json(json_client& c, int timeout_ms = rpc_timeout_ms) {
  auto line = c.read_line(timeout_ms);
  REQUIRE_MESSAGE(line.has_value(), "no message from the node");
  auto j = json::parse(*line, nullptr, false);
  REQUIRE_MESSAGE(!j.is_discarded(), "not JSON: " << *line);
  return j;
}

/// Checks that the connection and the node still answer (health).
inline void expect_alive(json_client& c) {
  auto resp = c.call("health", json::object(), rpc_timeout_ms);
  REQUIRE_MESSAGE(resp.has_value(), "connection or node no longer answers");
  auto r = result_of(*resp, "health");
  CHECK(r.value("status", "") == "ok");
}

/// Stops `node` with SIGTERM and returns its exit status, or -1 when it did
/// not exit within its stop timeout (it was then killed with SIGKILL). Logs
/// the node's log tail when the status is not 0.
inline int stop_node(node_process& node) {
  auto status = node.stop().value_or(-1);
  if (status != 0)
    MESSAGE("node exit status " << status << " (-1: no exit after SIGTERM);"
                                << " log tail:\n"
                                << node.log_tail(2000));
  return status;
}

/// A random UUID (version 4) in 8-4-4-4-12 lower-case hex form.
inline std::string uuid4() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  uint64_t hi = rng();
  uint64_t lo = rng();
  hi = (hi & ~uint64_t{0xF000}) | 0x4000;
  lo = (lo & ~(uint64_t{0xC} << 60)) | (uint64_t{0x8} << 60);
  char buf[37];
  std::snprintf(buf, sizeof(buf), "%08x-%04x-%04x-%04x-%012llx",
                static_cast<unsigned>(hi >> 32),
                static_cast<unsigned>((hi >> 16) & 0xFFFF),
                static_cast<unsigned>(hi & 0xFFFF),
                static_cast<unsigned>(lo >> 48),
                static_cast<unsigned long long>(lo & 0xFFFFFFFFFFFFull));
  return buf;
}

/// True for a UUID string in 8-4-4-4-12 hex form.
inline bool is_uuid(const json& v) {
  static const std::regex re{
    "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
    "[0-9a-fA-F]{12}$"};
  return v.is_string() && std::regex_match(v.get<std::string>(), re);
}

/// An event as a client writes it, with a fresh event id.
inline json make_event(const std::string& type, json data = json::object(),
                       std::string id = {}) {
  return json{{"event_id", id.empty() ? uuid4() : id},
              {"event_type", type},
              {"data", std::move(data)}};
}

/// `n` events of type `type` with data {"i": first..first+n-1}.
inline json make_events(size_t n, const std::string& type = "Tested",
                        int first = 0) {
  auto out = json::array();
  for (size_t i = 0; i < n; ++i)
    out.push_back(make_event(type, json{{"i", first + static_cast<int>(i)}}));
  return out;
}

/// Reads every event of a store through read_all, forward, in pages.
inline json read_all_events(json_client& c, const std::string& store,
                            int page = 1000) {
  auto out = json::array();
  int64_t from = 0;
  for (int guard = 0; guard < 100000; ++guard) {
    auto r = ok(c, "read_all",
                {{"store", store}, {"from_position", from}, {"count", page}});
    REQUIRE(r["events"].is_array());
    for (auto& e : r["events"])
      out.push_back(e);
    if (r["events"].empty())
      break;
    REQUIRE(r["next_position"].is_number_integer());
    auto next = r["next_position"].get<int64_t>();
    REQUIRE(next > from);
    from = next;
  }
  return out;
}

/// Reads every event of one stream through get_events, forward, in pages.
inline json stream_events(json_client& c, const std::string& store,
                          const std::string& stream, int page = 1000) {
  auto out = json::array();
  int64_t start = 0;
  for (int guard = 0; guard < 100000; ++guard) {
    auto r = ok(c, "get_events", {{"store", store},
                                  {"stream", stream},
                                  {"start", start},
                                  {"count", page}});
    REQUIRE(r["events"].is_array());
    for (auto& e : r["events"])
      out.push_back(e);
    if (r["events"].size() < static_cast<size_t>(page))
      break;
    start += page;
  }
  return out;
}

} // namespace cxesdb::tests
