// Fuzz target: one message (NDJSON line) from a client, through what the
// gateway's worker does with it before any store sees it (gateway.cpp): the
// depth check, the slim scanner (gateway/json_slim.hpp), the JSON parser,
// the envelope, and each request's params (gateway/json_rpc.hpp parse_call),
// then the error response or the command's bytes (stores/codec.hpp).
//
// Beyond "never crash", it checks what clients depend on:
// - the slim scanner changes nothing but where event data comes from: a
//   line it slims parses exactly when the line does, and parse_call gives
//   the same outcome with the slim DOM and the raw texts as with the full
//   DOM (the same error, or events whose data and metadata are the same
//   JSON);
// - every event accepted carries data and metadata that are valid JSON (the
//   store keeps that text and gives it back as JSON);
// - an accepted command encodes to bytes that decode to it.

#include <cstddef>
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "gateway/json_rpc.hpp"
#include "gateway/json_slim.hpp"
#include "gateway/uuid.hpp"
#include "stores/codec.hpp"
#include "tests/fuzz/fuzz_check.hpp"

using namespace cxesdb;
using namespace cxesdb::gateway;
using nlohmann::json;

namespace {

const rpc_limits limits;
const std::string default_store = "default";
constexpr int64_t now_us = 1'760'000'000'000'000;

std::variant<parsed_call, rpc_error>
parse(method m, const json& params, const std::vector<raw_event_text>* raw) {
  // The same generator state for both parses of a differential check.
  uuid_generator uuids{42};
  parse_context ctx{&limits, &default_store, &uuids, now_us, raw};
  return parse_call(m, params, ctx);
}

void check_events_are_json(const parsed_call& call) {
  auto append = std::get_if<stores::append_cmd>(&call.cmd);
  if (call.m != method::append_events || append == nullptr)
    return;
  for (auto& e : append->events) {
    FUZZ_CHECK(json::accept(e.data));
    FUZZ_CHECK(json::accept(e.metadata));
  }
}

/// The slim parse of an append (`slim`, `raw`) and the full one (`full`)
/// agree.
void check_same_call(const json& full, const json& slim,
                     const std::vector<raw_event_text>& raw) {
  auto a = parse(method::append_events, full, nullptr);
  auto b = parse(method::append_events, slim, &raw);
  auto ea = std::get_if<rpc_error>(&a);
  auto eb = std::get_if<rpc_error>(&b);
  // An event's size counts its data as stored: as received (slim) or as
  // printed (full); only the size limit may tell them apart.
  if (ea != nullptr && ea->reason == stores::errc::too_large)
    return;
  if (eb != nullptr && eb->reason == stores::errc::too_large)
    return;
  FUZZ_CHECK((ea == nullptr) == (eb == nullptr));
  if (ea != nullptr) {
    FUZZ_CHECK(ea->reason == eb->reason);
    FUZZ_CHECK(ea->message == eb->message);
    FUZZ_CHECK(ea->data == eb->data);
    return;
  }
  auto& ca = std::get<stores::append_cmd>(std::get<parsed_call>(a).cmd);
  auto& cb = std::get<stores::append_cmd>(std::get<parsed_call>(b).cmd);
  FUZZ_CHECK(ca.stream == cb.stream);
  FUZZ_CHECK(ca.expected.kind == cb.expected.kind);
  FUZZ_CHECK(ca.expected.value == cb.expected.value);
  FUZZ_CHECK(ca.events.size() == cb.events.size());
  for (size_t i = 0; i < ca.events.size(); ++i) {
    auto& x = ca.events[i];
    auto& y = cb.events[i];
    FUZZ_CHECK(x.event_id == y.event_id);
    FUZZ_CHECK(x.event_type == y.event_type);
    FUZZ_CHECK(x.content_type == y.content_type);
    FUZZ_CHECK(json::parse(x.data) == json::parse(y.data));
    FUZZ_CHECK(json::parse(x.metadata) == json::parse(y.metadata));
  }
}

/// handle_request (gateway.cpp) up to where a request leaves for a store.
void handle(const json& req, const std::vector<raw_event_text>* raw) {
  if (!req.is_object()) {
    error_response("null", make_rpc_error(stores::errc::invalid_request, "x"));
    return;
  }
  std::string id_text = "null";
  auto id = req.find("id");
  if (id != req.end()) {
    if (!id->is_string() && !id->is_number() && !id->is_null())
      return;
    id_text = id->dump();
    FUZZ_CHECK(json::accept(id_text));
  }
  auto v = req.find("jsonrpc");
  auto m = req.find("method");
  if (v == req.end() || *v != "2.0" || m == req.end() || !m->is_string())
    return;
  method which;
  if (!find_method(m->get<std::string>(), which)) {
    auto text = error_response(
      id_text, make_rpc_error(stores::errc::method_not_found,
                              "unknown method " + m->get<std::string>()));
    FUZZ_CHECK(json::accept(text));
    return;
  }
  static const json empty = json::object();
  auto p = req.find("params");
  const json& params = p == req.end() || p->is_null() ? empty : *p;
  auto parsed = parse(which, params, raw);
  if (auto err = std::get_if<rpc_error>(&parsed)) {
    FUZZ_CHECK(json::accept(error_response(id_text, *err)));
    return;
  }
  auto& call = std::get<parsed_call>(parsed);
  check_events_are_json(call);
  if (is_write(which)) {
    auto bytes = stores::encode(call.cmd);
    auto back = stores::decode(bytes);
    FUZZ_CHECK(back.has_value());
    FUZZ_CHECK(stores::encode(*back) == bytes);
  } else if (is_read(which)) {
    auto bytes = stores::encode(call.q);
    auto back = stores::decode_query(bytes);
    FUZZ_CHECK(back.has_value());
    FUZZ_CHECK(stores::encode(*back) == bytes);
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string line{reinterpret_cast<const char*>(data), size};
  if (json_depth(line) > rpc_limits::json_depth_max)
    return 0; // refused before anything parses it
  std::string slim;
  std::vector<raw_event_text> raw;
  bool slimmed = slim_append(line, slim, raw);
  if (!slimmed) {
    FUZZ_CHECK(slim.empty() && raw.empty());
  }
  auto j = json::parse(slimmed ? slim : line, nullptr, false);
  if (slimmed) {
    auto full = json::parse(line, nullptr, false);
    FUZZ_CHECK(full.is_discarded() == j.is_discarded());
    if (!j.is_discarded()) {
      FUZZ_CHECK(j.is_object() && full.is_object());
      FUZZ_CHECK(j.contains("params") && full.contains("params"));
      check_same_call(full["params"], j["params"], raw);
    }
  }
  if (j.is_discarded())
    return 0;
  if (!j.is_array()) {
    handle(j, slimmed ? &raw : nullptr);
    return 0;
  }
  if (j.empty() || j.size() > limits.batch_requests_max)
    return 0;
  for (auto& req : j)
    handle(req, nullptr);
  return 0;
}
