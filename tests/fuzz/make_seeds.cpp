// Writes the seed inputs of the fuzz targets' corpora with the real
// encoders (docs/testing.md): `fuzz_make_seeds tests/fuzz/corpus`. Each seed
// is `<corpus>/<target>/seed-<name>`; running it again rewrites the same
// bytes (no clock, no randomness). Hand-made edge cases live beside them as
// `edge-<name>`, and what the fuzzer found as `crash-<hash>` or `min-<hash>`.

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "actors/raft/codec.hpp"
#include "actors/raft/node_log.hpp"
#include "actors/raft/snapshot_chunk.hpp"
#include "stores/catalog.hpp"
#include "stores/codec.hpp"

namespace fs = std::filesystem;
using namespace cxesdb;
namespace raft = cxesdb::actors::raft;
using nlohmann::json;

namespace {

fs::path root;

void put(const std::string& target, const std::string& name,
         const std::string& bytes) {
  auto dir = root / target;
  fs::create_directories(dir);
  std::ofstream out{dir / ("seed-" + name), std::ios::binary | std::ios::trunc};
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out.good()) {
    std::fprintf(stderr, "cannot write %s\n", (dir / name).c_str());
    std::exit(1);
  }
}

// -- raft_codec -----------------------------------------------------------------

raft::entry make_entry(uint64_t index, uint64_t term, raft::entry_type t,
                       std::string data) {
  raft::entry e;
  e.index = index;
  e.term = term;
  e.type = t;
  e.data = std::move(data);
  return e;
}

raft::conf_state make_conf() {
  raft::conf_state c;
  c.voters = {1, 2, 3};
  c.learners = {4};
  return c;
}

void raft_seeds() {
  raft::message m;
  m.type = raft::message_type::append;
  m.from = 1;
  m.to = 2;
  m.term = 3;
  m.log_term = 3;
  m.index = 10;
  m.commit = 9;
  m.entries.push_back(make_entry(11, 3, raft::entry_type::normal, "command"));
  m.entries.push_back(make_entry(12, 3, raft::entry_type::no_op, ""));
  put("raft_codec", "append", raft::encode(m));
  raft::message r;
  r.type = raft::message_type::append_resp;
  r.from = 2;
  r.to = 1;
  r.term = 3;
  r.index = 7;
  r.reject = true;
  r.reject_hint = 5;
  put("raft_codec", "append-resp-reject", raft::encode(r));
  raft::message v;
  v.type = raft::message_type::pre_vote;
  v.from = 3;
  v.to = 1;
  v.term = 4;
  v.log_term = 3;
  v.index = 12;
  v.context = raft::transfer_context;
  put("raft_codec", "pre-vote", raft::encode(v));
  raft::message s;
  s.type = raft::message_type::snapshot;
  s.from = 1;
  s.to = 4;
  s.term = 5;
  raft::snapshot snap;
  snap.meta.index = 100;
  snap.meta.term = 5;
  snap.meta.conf = make_conf();
  s.snap = std::make_shared<const raft::snapshot>(snap);
  put("raft_codec", "snapshot-header", raft::encode(s));
  raft::snapshot_chunk c;
  c.header = s;
  c.offset = 8;
  c.total = 20;
  c.data = "image-bytes";
  put("raft_codec", "snapshot-chunk", raft::encode(c));
  raft::snapshot_ack a;
  a.from = 4;
  a.to = 1;
  a.index = 100;
  a.term = 5;
  a.next_offset = 19;
  put("raft_codec", "snapshot-ack", raft::encode(a));
  a.done = true;
  put("raft_codec", "snapshot-ack-done", raft::encode(a));
  put("raft_codec", "conf-state", raft::encode(make_conf()));
}

// -- command_codec ----------------------------------------------------------------

stores::event_input make_event(const std::string& id, const std::string& type,
                               const std::string& data) {
  stores::event_input e;
  e.event_id = id;
  e.event_type = type;
  e.data = data;
  e.metadata = "null";
  e.content_type = "application/json";
  return e;
}

void command_seeds() {
  stores::append_cmd ap;
  ap.stream = "order-1";
  ap.expected.kind = stores::expected_version::exact;
  ap.expected.value = 4;
  ap.created_epoch_us = 1760000000000000;
  ap.events.push_back(make_event("0192c5a0-0000-7000-8000-000000000001",
                                 "placed", "{\"total\":12}"));
  ap.events.push_back(make_event("0192c5a0-0000-7000-8000-000000000002",
                                 "paid", "[1,2]"));
  put("command_codec", "append", stores::encode(stores::command{ap}));
  stores::record_snapshot_cmd rs;
  rs.snapshot.source_uuid = "src";
  rs.snapshot.stream_uuid = "order-1";
  rs.snapshot.version = 3;
  rs.snapshot.source_type = "\"projection\"";
  rs.snapshot.data = "{\"n\":3}";
  rs.snapshot.metadata = "null";
  put("command_codec", "record-snapshot", stores::encode(stores::command{rs}));
  stores::delete_snapshot_cmd ds{"src", "order-1", 3};
  put("command_codec", "delete-snapshot", stores::encode(stores::command{ds}));
  stores::save_subscription_cmd ss;
  ss.name = "billing";
  ss.type = "by_stream";
  ss.selector = "\"order-1\"";
  ss.start.kind = stores::start_from::position;
  ss.start.value = 7;
  put("command_codec", "save-subscription", stores::encode(stores::command{ss}));
  stores::checkpoint_cmd cp{"billing", 9};
  put("command_codec", "checkpoint", stores::encode(stores::command{cp}));
  stores::remove_subscription_cmd rm{"billing", "by_stream", "\"order-1\""};
  put("command_codec", "remove-subscription",
      stores::encode(stores::command{rm}));
  put("command_codec", "noop", stores::encode(stores::command{stores::noop_cmd{}}));

  stores::read_stream_query q1;
  q1.stream = "order-1";
  q1.backward = true;
  put("command_codec", "query-read-stream", stores::encode(stores::query{q1}));
  stores::list_streams_query q2;
  q2.has_after = true;
  q2.after = "order-0";
  put("command_codec", "query-list-streams", stores::encode(stores::query{q2}));
  stores::read_all_query q3;
  q3.from = 5;
  q3.stream = "order-1";
  put("command_codec", "query-read-all", stores::encode(stores::query{q3}));
  put("command_codec", "query-list-subscriptions",
      stores::encode(stores::query{stores::list_subscriptions_query{}}));
  put("command_codec", "query-store-figures",
      stores::encode(stores::query{stores::store_figures_query{}}));

  stores::command_result cr;
  cr.version = 5;
  cr.position = 41;
  cr.appended = 2;
  put("command_codec", "command-result", stores::encode(cr));
  stores::query_result qr;
  stores::recorded_event ev;
  ev.stream_id = "order-1";
  ev.event_number = 0;
  ev.position = 40;
  ev.event_id = "0192c5a0-0000-7000-8000-000000000001";
  ev.event_type = "placed";
  ev.data = "{\"total\":12}";
  ev.metadata = "null";
  ev.content_type = "application/json";
  qr.events.push_back(ev);
  qr.streams.push_back("order-1");
  qr.snapshots.push_back(rs.snapshot);
  qr.subscriptions.push_back({"billing", "by_stream", "\"order-1\"", 9});
  qr.has_next = true;
  qr.next_position = 41;
  put("command_codec", "query-result", stores::encode(qr));
}

// -- json_rpc ---------------------------------------------------------------------

void json_rpc_seeds() {
  auto req = [](const std::string& name, const char* method, json params) {
    json r{{"jsonrpc", "2.0"}, {"id", 1}, {"method", method},
           {"params", std::move(params)}};
    put("json_rpc", name, r.dump());
  };
  req("create-store", "create_store",
      {{"store", "orders"},
       {"config",
        {{"timeout_ms", 5000}, {"replication_factor", 3},
         {"description", "orders"}, {"tags", {"a", "b"}}}}});
  req("append", "append_events",
      {{"store", "orders"},
       {"stream", "order-1"},
       {"expected_version", 4},
       {"events",
        {{{"event_type", "placed"},
          {"event_id", "0192C5A0-0000-7000-8000-000000000001"},
          {"data", {{"total", 12}, {"items", {1, 2, 3}}}},
          {"metadata", {{"trace", "x"}}}},
         {{"event_type", "paid"}, {"data", "text"}},
         {{"event_type", "blob"},
          {"content_type", "application/octet-stream"},
          {"data", "AAEC"}}}}});
  // A line as a client writes it, with spaces in the event data (the slim
  // scanner keeps that text as received).
  put("json_rpc", "append-spaced",
      "{\"jsonrpc\": \"2.0\", \"id\": \"a\", \"method\": \"append_events\", "
      "\"params\": {\"stream\": \"s\", \"expected_version\": \"no_stream\", "
      "\"events\": [{\"event_type\": \"t\", \"data\": { \"a\" : [ 1, {\"b\": "
      "\"\\u00e9\\\"\"} ] }, \"metadata\": [ null ]}]}}");
  req("get-events", "get_events",
      {{"stream", "order-1"}, {"start", 0}, {"count", 10},
       {"direction", "backward"}});
  req("get-version", "get_version", {{"stream", "order-1"}});
  req("get-streams", "get_streams", {{"after", "a"}, {"limit", 5}});
  req("read-all", "read_all",
      {{"from_position", 3}, {"count", 2}, {"direction", "forward"}});
  req("record-snapshot", "record_snapshot",
      {{"source_uuid", "src"}, {"stream_uuid", "order-1"}, {"version", 3},
       {"data", {{"n", 3}}}, {"metadata", nullptr}, {"source_type", "p"}});
  req("read-snapshot", "read_snapshot",
      {{"source_uuid", "src"}, {"stream_uuid", "order-1"}, {"version", -1}});
  req("delete-snapshot", "delete_snapshot",
      {{"source_uuid", "src"}, {"stream_uuid", "order-1"}, {"version", 3}});
  req("list-snapshots", "list_snapshots", {{"source_uuid", "src"}});
  req("save-subscription", "save_subscription",
      {{"type", "by_event_type"}, {"selector", {"placed", "paid"}},
       {"name", "billing"}, {"start_from", "origin"}, {"max_in_flight", 10}});
  req("save-subscription-all", "save_subscription",
      {{"type", "all"}, {"selector", nullptr}, {"start_from", 5}});
  req("unsubscribe", "unsubscribe", {{"subscription", "abc"}});
  req("remove-subscription", "remove_subscription",
      {{"type", "by_stream"}, {"selector", "order-1"}, {"name", "billing"}});
  req("ack-event", "ack_event", {{"subscription", "abc"}, {"position", 4}});
  req("get-subscriptions", "get_subscriptions", json::object());
  req("list-stores", "list_stores", json::object());
  req("store-status", "get_store_status", {{"store", "orders"}});
  req("store-config", "get_store_config", {{"store", "orders"}});
  req("remove-store", "remove_store", {{"store", "orders"}});
  req("health", "health", json::object());
  req("cluster-status", "cluster_status", json::object());
  req("leave-cluster", "leave_cluster", {{"node", "node2"}});
  json batch = json::array();
  batch.push_back({{"jsonrpc", "2.0"}, {"id", 1}, {"method", "health"}});
  batch.push_back({{"jsonrpc", "2.0"}, {"method", "get_version"},
                   {"params", {{"stream", "s"}}}});
  put("json_rpc", "batch", batch.dump());
}

// -- catalog ----------------------------------------------------------------------

void catalog_seeds() {
  auto ev = [](const std::string& name, const std::string& stream,
               const std::string& type, const json& data) {
    put("catalog", name, stream + "\n" + type + "\n" + data.dump());
  };
  ev("node-joined", "nodes", "node_joined",
     {{"name", "node1"}, {"address", "127.0.0.1:4000"}});
  ev("node-left", "nodes", "node_left", {{"name", "node2"}});
  stores::store_config cfg;
  cfg.id = "orders";
  cfg.replication_factor = 3;
  cfg.has_description = true;
  cfg.description = "orders";
  cfg.tags = {"a", "b"};
  cfg.created_at = "2026-12-07T05:00:00.000000Z";
  ev("store-created", "store-orders", "store_created",
     {{"config", json::parse(stores::to_json_text(cfg))},
      {"founders", {"node1", "node2", "node3"}}});
  ev("store-removed", "store-orders", "store_removed", json::object());
}

// -- node_log ---------------------------------------------------------------------

/// A real node log's segment, written through node_log_storage.
void node_log_seeds() {
  std::string tmpl = (fs::temp_directory_path() / "cxesdb-seeds-XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) {
    std::perror("mkdtemp");
    std::exit(1);
  }
  raft::node_log_config cfg;
  cfg.dir = tmpl + "/_log";
  std::string err;
  std::shared_ptr<raft::node_log> log = raft::node_log::open(cfg, err);
  if (!log) {
    std::fprintf(stderr, "%s\n", err.c_str());
    std::exit(1);
  }
  raft::node_log_storage a{log, "orders"};
  raft::node_log_storage b{log, "_system"};
  raft::node_log_storage c{log, "gone"};
  raft::ready rd;
  rd.hard = raft::hard_state{1, 1, 0};
  rd.entries.push_back(make_entry(1, 1, raft::entry_type::no_op, ""));
  rd.entries.push_back(make_entry(2, 1, raft::entry_type::normal, "x"));
  a.save(rd);
  b.save(rd);
  c.save(rd);
  raft::ready more;
  more.hard = raft::hard_state{2, 2, 2};
  more.entries.push_back(make_entry(2, 2, raft::entry_type::conf_change, "cc"));
  more.entries.push_back(make_entry(3, 2, raft::entry_type::normal, "y"));
  a.save(more);
  raft::ready snap;
  raft::snapshot s;
  s.meta.index = 2;
  s.meta.term = 1;
  s.meta.conf = make_conf();
  snap.snap = s;
  b.save(snap);
  log->forget("gone", [](const std::optional<std::string>&) {});
  log->flush();
  log.reset();
  std::ifstream in{cfg.dir + "/00000000000000000001.seg", std::ios::binary};
  std::string seg{std::istreambuf_iterator<char>{in},
                  std::istreambuf_iterator<char>{}};
  // Mode byte 0: as written; 1: checksums fixed (the same, here); 2 and 3:
  // split into two segments (here at byte 40, inside the second record).
  put("node_log", "segment", std::string(1, '\0') + seg);
  put("node_log", "segment-fix", std::string(1, '\1') + seg);
  put("node_log", "segment-split", std::string("\3\x28\0", 3) + seg);
  put("node_log", "segment-torn",
      std::string(1, '\0') + seg.substr(0, seg.size() - 3));
  std::error_code ec;
  fs::remove_all(tmpl, ec);
}

} // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
    return 2;
  }
  root = argv[1];
  raft_seeds();
  command_seeds();
  json_rpc_seeds();
  catalog_seeds();
  node_log_seeds();
  return 0;
}
