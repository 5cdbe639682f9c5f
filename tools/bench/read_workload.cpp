#include "tools/bench/read_workload.hpp"

#include <algorithm>

namespace cxesdb::tools {

read_workload::read_workload(read_options opts)
  : opts_(std::move(opts)), rng_(opts_.seed) {
  if (!opts_.store.empty())
    store_param_ = R"("store":")" + opts_.store + "\",";
}

bool read_workload::next_request(size_t, uint64_t id, std::string& out,
                                 request_slot& slot) {
  out += R"({"jsonrpc":"2.0","id":)";
  out += std::to_string(id);
  uint64_t page = std::min(opts_.count, opts_.stream_events);
  if (opts_.all) {
    uint64_t total = opts_.streams * opts_.stream_events;
    uint64_t page_all = std::min(opts_.count, total);
    uint64_t from = rng_.below(total - page_all + 1);
    out += R"(,"method":"read_all","params":{)";
    out += store_param_;
    out += R"("from_position":)";
    out += std::to_string(from);
    out += R"(,"count":)";
    out += std::to_string(page_all);
    out += "}}\n";
    slot.events = static_cast<uint32_t>(page_all);
    return true;
  }
  uint64_t stream = rng_.below(opts_.streams);
  uint64_t start = rng_.below(opts_.stream_events - page + 1);
  out += R"(,"method":"get_events","params":{)";
  out += store_param_;
  out += R"("stream":")";
  out += opts_.stream_prefix;
  out += std::to_string(stream);
  out += R"(","start":)";
  out += std::to_string(start);
  out += R"(,"count":)";
  out += std::to_string(page);
  out += "}}\n";
  slot.events = static_cast<uint32_t>(page);
  return true;
}

bool health_workload::next_request(size_t, uint64_t id, std::string& out,
                                   request_slot& slot) {
  out += R"({"jsonrpc":"2.0","id":)";
  out += std::to_string(id);
  out += R"(,"method":"health","params":{}})";
  out += '\n';
  slot.events = 0;
  return true;
}

} // namespace cxesdb::tools
