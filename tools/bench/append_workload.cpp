#include "tools/bench/append_workload.hpp"

#include <cassert>
#include <charconv>

namespace cxesdb::tools {

namespace {

/// About 100 bytes of metadata, as an application's correlation data.
constexpr const char* metadata_json
  = R"({"correlation_id":"0b7c1d2e-3f40-4a51-8b62-7c8d9e0fa1b2",)"
    R"("causation_id":"c-000001","source":"cxesdb-bench"})";

void put_int(std::string& out, int64_t v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  (void) ec;
  out.append(buf, end);
}

} // namespace

append_workload::append_workload(append_options opts, size_t clients)
  : opts_(std::move(opts)),
    clients_(clients),
    rng_(opts_.seed),
    ids_(opts_.run_tag) {
  assert(opts_.event_bytes >= append_options::event_bytes_min);
  assert(opts_.batch >= 1 && opts_.streams >= 1);
  head_ = R"({"jsonrpc":"2.0","id":)";
  method_ = R"(,"method":"append_events","params":{)";
  if (!opts_.store.empty())
    method_ += R"("store":")" + opts_.store + "\",";
  method_ += R"("stream":")" + opts_.stream_prefix;
  event_tail_ = R"(","event_type":"BenchEvent","data":{"p":")";
  event_tail_.append(opts_.event_bytes - 8, 'x');
  event_tail_ += R"("},"metadata":)";
  event_tail_ += metadata_json;
  event_tail_ += '}';
  if (opts_.exact) {
    version_.assign(opts_.streams, -1);
    busy_.assign(opts_.streams, false);
  }
}

bool append_workload::pick_stream(size_t client, uint64_t& stream) {
  if (!opts_.exact) {
    stream = rng_.below(opts_.streams);
    return true;
  }
  // Client c owns the streams c, c + clients, c + 2 * clients, ...
  uint64_t owned = (opts_.streams - client + clients_ - 1) / clients_;
  assert(owned >= 1);
  uint64_t k = rng_.below(owned);
  for (uint64_t tries = 0; tries < owned; ++tries) {
    uint64_t s = client + clients_ * ((k + tries) % owned);
    if (!busy_[s]) {
      stream = s;
      return true;
    }
  }
  return false;
}

bool append_workload::next_request(size_t client, uint64_t id,
                                   std::string& out, request_slot& slot) {
  uint64_t stream = 0;
  if (!pick_stream(client, stream))
    return false;
  out += head_;
  put_int(out, static_cast<int64_t>(id));
  out += method_;
  put_int(out, static_cast<int64_t>(stream));
  out += R"(","expected_version":)";
  if (opts_.exact) {
    busy_[stream] = true;
    put_int(out, version_[stream]);
  } else {
    out += R"("any")";
  }
  out += R"(,"events":[)";
  slot.first_seq = next_seq_;
  for (size_t i = 0; i < opts_.batch; ++i) {
    if (i > 0)
      out += ',';
    out += R"({"event_id":")";
    ids_.append(out, next_seq_++);
    out += event_tail_;
  }
  out += "]}}\n";
  slot.events = static_cast<uint32_t>(opts_.batch);
  slot.tag = static_cast<uint32_t>(stream);
  return true;
}

void append_workload::on_response(size_t, const request_slot& slot,
                                  const response_view& r, int64_t now) {
  if (opts_.exact) {
    busy_[slot.tag] = false;
    if (!r.is_error && r.has_version)
      version_[slot.tag] = r.version;
    else if (r.is_error && r.has_current_version)
      version_[slot.tag] = r.current_version;
  }
  if (!r.is_error && on_ack)
    on_ack(slot.first_seq, slot.events, now);
}

void append_workload::on_lost(size_t, const request_slot& slot) {
  // The outcome is unknown; a wrong version is corrected by the node's
  // wrong_expected_version answer on the next append.
  if (opts_.exact)
    busy_[slot.tag] = false;
}

} // namespace cxesdb::tools
