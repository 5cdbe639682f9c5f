// Fuzz target: the catalog event decoder (stores/catalog.hpp
// decode_catalog_event) and the store config text it reads
// (config_from_json_text). An input is `stream\ntype\ndata`. The decoder
// must never throw and never misread: a node event names a node, a store
// event a valid store id of its stream, and a config it read prints and
// reads back the same.

#include <cstddef>
#include <cstdint>
#include <exception>
#include <string>

#include "stores/catalog.hpp"
#include "tests/fuzz/fuzz_check.hpp"

using namespace cxesdb::stores;

namespace {

/// Cuts `in` at the first '\n' (all of it when there is none).
std::string take_line(std::string& in) {
  auto nl = in.find('\n');
  if (nl == std::string::npos) {
    auto all = std::move(in);
    in.clear();
    return all;
  }
  auto line = in.substr(0, nl);
  in.erase(0, nl + 1);
  return line;
}

bool same(const store_config& x, const store_config& y) {
  return x.id == y.id && x.timeout_ms == y.timeout_ms
         && x.replication_factor == y.replication_factor
         && x.has_description == y.has_description
         && x.description == y.description && x.tags == y.tags
         && x.data_dir == y.data_dir && x.created_at == y.created_at;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  std::string data{reinterpret_cast<const char*>(bytes), size};
  auto stream = take_line(data);
  auto type = take_line(data);
  using kind = catalog_event::kind;
  auto ev = decode_catalog_event(stream, type, data);
  switch (ev.what) {
    case kind::ignored:
      break;
    case kind::node_joined:
      FUZZ_CHECK(!ev.node.empty());
      FUZZ_CHECK(stream == "nodes" && type == "node_joined");
      break;
    case kind::node_left:
      FUZZ_CHECK(stream == "nodes" && type == "node_left");
      break;
    case kind::store_created:
    case kind::store_removed:
    case kind::store_other:
      FUZZ_CHECK(valid_store_id(ev.store));
      FUZZ_CHECK(stream == "store-" + ev.store);
      break;
  }
  if (ev.config_ok) {
    FUZZ_CHECK(ev.what == kind::store_created);
    FUZZ_CHECK(ev.config.id == ev.store);
    auto again = config_from_json_text(ev.store, to_json_text(ev.config));
    FUZZ_CHECK(same(again, ev.config));
  }
  // The config text alone: read, or refused with an exception.
  try {
    auto cfg = config_from_json_text("orders", data);
    FUZZ_CHECK(cfg.id == "orders");
  } catch (const std::exception&) {
    // refused
  }
  return 0;
}
