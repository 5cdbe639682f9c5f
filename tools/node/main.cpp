// cxesdb-node: one node of cxesdb. Opens the stores in its data directory,
// creates the default store, and serves the JSON-RPC client protocol.

#include <csignal>
#include <sys/resource.h>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "caf/actor_system.hpp"
#include "caf/actor_system_config.hpp"
#include "caf/io/middleman.hpp"
#include "caf/scoped_actor.hpp"

#include "actors/io_pool.hpp"
#include "actors/io_thread.hpp"
#include "actors/log.hpp"
#include "actors/raft/node_log.hpp"
#include "actors/registry.hpp"
#include "actors/type_ids.hpp"
#include "gateway/gateway.hpp"
#include "gateway/json_rpc_server.hpp"
#include "gateway/remote_api.hpp"
#include "gateway/scavenger.hpp"
#include "stores/catalog.hpp"
#include "stores/local_leaders.hpp"
#include "stores/store_manager.hpp"

using namespace cxesdb;

namespace {

/// Every flag, its default and what it means. The config file (--config)
/// takes the same names without the dashes.
struct flag {
  const char* name;
  const char* default_value;
  const char* help;
};

const flag flags[] = {
  {"data-dir", "./data", "directory of the stores and the catalog"},
  {"bind", "127.0.0.1", "address the client port binds to"},
  {"client-port", "7411", "JSON-RPC port (0 picks a free one)"},
  {"api-port", "7412", "CAF API port for C++ clients (0 picks a free one)"},
  {"default-store", "default", "store created at start-up, never removed"},
  {"node-name", "node1", "this node's name: unique in its cluster"},
  {"cluster-port", "7413", "port other nodes reach this one on (0: free)"},
  {"seeds", "", "host:port,... of cluster ports to join (none: found one)"},
  {"raft-tick-ms", "100", "real time per Raft tick"},
  {"max-message-bytes", "16777216", "longest JSON-RPC message"},
  {"max-event-bytes", "1048576", "largest encoded event"},
  {"max-batch-requests", "1000", "most requests in one JSON-RPC batch"},
  {"max-connections", "1024", "most open client connections"},
  {"max-inflight-per-connection", "1024",
   "messages of one connection in work before it stops being read"},
  {"max-stores", "10000", "most stores on this node"},
  {"max-output-bytes", "16777216",
   "unread answers on a connection before the node stops reading it"},
  {"max-subscriber-buffer-bytes", "8388608",
   "unread bytes before a connection's transient subscriptions are dropped"},
  {"write-queue", "10000", "commands waiting per store before overloaded"},
  {"batch-commands", "1000", "most commands per store transaction"},
  {"read-queue", "10000", "reads waiting per store before overloaded"},
  {"compact-every-entries", "4096",
   "applied entries after which a store's Raft log is compacted"},
  {"compact-every-bytes", "8388608",
   "applied entry bytes after which a store's Raft log is compacted"},
  {"compact-keep-entries", "1000",
   "entries a compaction keeps for followers a little behind"},
  {"compact-pin-bytes", "268435456",
   "bytes of log a leader keeps at most for a follower catching up"},
  {"hibernate-after-ms", "10000",
   "idle time after which a store closes its files (0: never)"},
  {"snapshot-chunk-bytes", "1048576",
   "bytes per chunk of a store image sent to a follower"},
  {"log-segment-bytes", "67108864",
   "size at which the node log closes a segment and checkpoints"},
  {"readers-per-store", "2", "read connections per store"},
  {"io-threads", "4", "threads for SQLite and file work"},
  {"io-queue", "65536", "IO jobs waiting before overloaded"},
  {"workers", "4", "gateway workers"},
  {"scheduler-threads", "2", "CAF scheduler threads"},
  {"scheduler-moderate-polls", "10",
   "50 us naps of an idle scheduler thread before it waits (CAF: 500)"},
  {"request-timeout-ms", "10000", "how long the gateway waits for a store"},
  {"scavenge-interval-s", "3600",
   "seconds between background scavenges of the stores led here"},
  {"config", "", "JSON file with any of these flags (without dashes)"},
};

void usage(std::ostream& out) {
  out << "usage: cxesdb-node [--flag value]...\n\n";
  for (auto& f : flags) {
    std::string name = std::string{"--"} + f.name;
    out << "  " << name;
    for (auto n = name.size(); n < 30; ++n)
      out << ' ';
    out << f.help;
    if (*f.default_value)
      out << " (default " << f.default_value << ")";
    out << '\n';
  }
  out << "  --help                        this text\n";
}

[[noreturn]] void die(const std::string& text) {
  std::cerr << "cxesdb-node: " << text << "\n";
  std::exit(2);
}

bool known(const std::string& name) {
  for (auto& f : flags)
    if (name == f.name)
      return true;
  return false;
}

uint64_t number(const std::map<std::string, std::string>& opts,
                const char* name, uint64_t min, uint64_t max) {
  auto& text = opts.at(name);
  size_t used = 0;
  unsigned long long x = 0;
  try {
    x = std::stoull(text, &used);
  } catch (...) {
    used = 0;
  }
  if (used == 0 || used != text.size() || text[0] == '-' || x < min || x > max)
    die(std::string{"--"} + name + " must be a number from "
        + std::to_string(min) + " to " + std::to_string(max) + ", not '"
        + text + "'");
  return x;
}

std::map<std::string, std::string> parse_args(int argc, char** argv) {
  std::map<std::string, std::string> cli;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      usage(std::cout);
      std::exit(0);
    }
    if (arg.rfind("--", 0) != 0)
      die("unexpected argument '" + arg + "' (see --help)");
    auto name = arg.substr(2);
    std::string value;
    auto eq = name.find('=');
    if (eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    if (!known(name))
      die("unknown flag --" + name + " (see --help)");
    if (eq == std::string::npos) {
      if (i + 1 >= argc)
        die("--" + name + " needs a value");
      value = argv[++i];
    }
    cli[name] = value;
  }
  std::map<std::string, std::string> opts;
  for (auto& f : flags)
    opts[f.name] = f.default_value;
  if (auto c = cli.find("config"); c != cli.end() && !c->second.empty()) {
    std::ifstream in{c->second};
    if (!in)
      die("cannot read config file " + c->second);
    auto j = nlohmann::json::parse(in, nullptr, false);
    if (!j.is_object())
      die("config file " + c->second + " is not a JSON object");
    for (auto& kv : j.items()) {
      if (!known(kv.key()) || kv.key() == "config")
        die("unknown key '" + kv.key() + "' in " + c->second);
      opts[kv.key()] = kv.value().is_string() ? kv.value().get<std::string>()
                                              : kv.value().dump();
    }
  }
  for (auto& kv : cli)
    opts[kv.first] = kv.second;
  return opts;
}

} // namespace

int main(int argc, char** argv) {
  auto opts = parse_args(argc, argv);
  if (!stores::valid_store_id(opts["default-store"]))
    die("--default-store must match ^[a-z][a-z0-9_]{0,62}$");
  // Signals are taken by sigwait on this thread only: block them before any
  // other thread starts, so that they inherit the mask.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  // Every store keeps a few files open: take as many descriptors as allowed.
  rlimit fds{};
  if (getrlimit(RLIMIT_NOFILE, &fds) == 0 && fds.rlim_cur < fds.rlim_max) {
    fds.rlim_cur = fds.rlim_max;
    setrlimit(RLIMIT_NOFILE, &fds);
  }

  // From here on, SQLite aborts the process when called off the IO threads.
  actors::io_thread::enforced = true;

  caf::actor_system_config cfg;
  cfg.load<caf::io::middleman>();
  cfg.add_message_types<caf::id_block::cxesdb>();
  cfg.set("scheduler.max-threads",
          number(opts, "scheduler-threads", 1, 64));
  // CAF's work-stealing workers poll before they sleep: by default 500
  // naps of 50 us after every burst of work, which on a node with a Raft
  // tick every 100 ms per group keeps a core a sixth busy doing nothing.
  // Few naps, then the relaxed wait (woken by new work).
  cfg.set("work-stealing.moderate-poll-attempts",
          number(opts, "scheduler-moderate-polls", 0, 100000));
  cfg.set("logger.verbosity", caf::atom("quiet"));
  cfg.set("logger.console", caf::atom("none"));
  caf::actor_system sys{cfg};
  actors::io_pool pool{number(opts, "io-threads", 1, 256),
                       number(opts, "io-queue", 1, 1u << 24)};

  // The registry, published on the cluster port: other nodes' registries and
  // store managers reach this node through it.
  actors::registry_config rcfg;
  rcfg.node_name = opts["node-name"];
  rcfg.host = opts["bind"];
  for (size_t i = 0; i < opts["seeds"].size();) {
    auto j = opts["seeds"].find(',', i);
    if (j == std::string::npos)
      j = opts["seeds"].size();
    if (j > i)
      rcfg.seeds.push_back(opts["seeds"].substr(i, j - i));
    i = j + 1;
  }
  auto registry = actors::spawn_registry(sys, rcfg);
  auto cluster_port = sys.middleman().publish(
    registry, static_cast<uint16_t>(number(opts, "cluster-port", 0, 65535)),
    opts["bind"].c_str(), true);
  if (!cluster_port) {
    actors::log_error("cannot listen for peers on " + opts["bind"] + ":"
                      + opts["cluster-port"] + ": "
                      + sys.render(cluster_port.error()));
    caf::anon_send_exit(registry, caf::exit_reason::user_shutdown);
    return 1;
  }
  caf::anon_send(registry, caf::publish_atom_v, *cluster_port);
  auto cluster_address = opts["bind"] + ":" + std::to_string(*cluster_port);
  actors::log_info("listening for peers on " + cluster_address);

  stores::store_manager_config mcfg;
  mcfg.registry = registry;
  mcfg.cluster_address = cluster_address;
  mcfg.data_dir = opts["data-dir"];
  mcfg.node_name = opts["node-name"];
  mcfg.bootstrap = opts["seeds"].empty();
  mcfg.tick_interval_ms = number(opts, "raft-tick-ms", 1, 10000);
  mcfg.default_store = opts["default-store"];
  mcfg.stores_max = number(opts, "max-stores", 1, 1000000);
  mcfg.readers_per_store = number(opts, "readers-per-store", 1, 64);
  mcfg.group_limits.write_queue_max = number(opts, "write-queue", 1, 1u << 24);
  mcfg.group_limits.batch_commands_max
    = number(opts, "batch-commands", 1, 100000);
  mcfg.group_limits.read_queue_max = number(opts, "read-queue", 1, 1u << 24);
  mcfg.group_limits.compact_every_entries
    = number(opts, "compact-every-entries", 1, 1u << 24);
  mcfg.group_limits.compact_every_bytes
    = number(opts, "compact-every-bytes", 1, 1ull << 34);
  mcfg.group_limits.compact_keep_entries
    = number(opts, "compact-keep-entries", 0, 1u << 24);
  mcfg.group_limits.compact_pin_bytes
    = number(opts, "compact-pin-bytes", 0, 1ull << 34);
  mcfg.group_limits.hibernate_after_ms
    = number(opts, "hibernate-after-ms", 0, 86400000);
  mcfg.group_limits.snapshot_chunk_bytes
    = number(opts, "snapshot-chunk-bytes", 4096, 64u << 20);
  actors::log_info("cxesdb-node " + opts["node-name"] + " starting, data in "
                   + mcfg.data_dir);
  // One Raft log for every store replica of this node.
  actors::raft::node_log_config lcfg;
  lcfg.dir = mcfg.data_dir + "/_log";
  lcfg.segment_bytes = number(opts, "log-segment-bytes", 1u << 16, 1ull << 34);
  std::string log_err;
  auto node_log = actors::raft::node_log::open(lcfg, log_err);
  if (!node_log) {
    actors::log_error("cannot open the node log: " + log_err);
    caf::anon_send_exit(registry, caf::exit_reason::user_shutdown);
    pool.stop();
    return 1;
  }
  if (auto torn = node_log->figures().torn_bytes; torn > 0)
    actors::log_info("node log: cut a torn tail of " + std::to_string(torn)
                     + " bytes (a write cut short, never acknowledged)");
  mcfg.log = std::shared_ptr<actors::raft::node_log>(node_log.release());
  mcfg.leaders = std::make_shared<stores::local_leaders>();
  auto manager = stores::spawn_store_manager(sys, mcfg, pool);

  caf::scoped_actor self{sys};
  bool ready = false;
  self->request(manager, caf::infinite, actors::ready_atom_v)
    .receive([&](bool) { ready = true; },
             [&](const caf::error& e) {
               actors::log_error("start-up failed: " + sys.render(e));
             });
  if (!ready) {
    self->send_exit(registry, caf::exit_reason::user_shutdown);
    self->send_exit(manager, caf::exit_reason::user_shutdown);
    pool.stop();
    return 1;
  }

  gateway::gateway_config gcfg;
  gcfg.default_store = opts["default-store"];
  gcfg.node_name = opts["node-name"];
  gcfg.limits.message_bytes_max
    = number(opts, "max-message-bytes", 64, 1u << 30);
  gcfg.limits.event_bytes_max = number(opts, "max-event-bytes", 64, 1u << 30);
  gcfg.limits.batch_requests_max
    = number(opts, "max-batch-requests", 1, 100000);
  gcfg.workers = number(opts, "workers", 1, 256);
  gcfg.request_timeout
    = std::chrono::milliseconds{number(opts, "request-timeout-ms", 1, 3600000)};
  gcfg.seed = std::random_device{}();
  gcfg.leaders = mcfg.leaders;
  auto gw = gateway::spawn_gateway(sys, manager, gcfg);
  gateway::scavenger_config sccfg;
  sccfg.interval
    = std::chrono::seconds{number(opts, "scavenge-interval-s", 1, 100000000)};
  sccfg.leaders = mcfg.leaders;

  gateway::server_config scfg;
  scfg.bind = opts["bind"];
  scfg.port = static_cast<uint16_t>(number(opts, "client-port", 0, 65535));
  scfg.message_bytes_max = gcfg.limits.message_bytes_max;
  scfg.connections_max = number(opts, "max-connections", 1, 1000000);
  scfg.inflight_per_connection_max
    = number(opts, "max-inflight-per-connection", 1, 1000000);
  scfg.output_bytes_max = number(opts, "max-output-bytes", 4096, 1u << 30);
  scfg.subscriber_buffer_bytes_max
    = number(opts, "max-subscriber-buffer-bytes", 4096, 1u << 30);
  caf::actor server;
  std::string err;
  auto port = gateway::start_json_rpc_server(sys, gw, scfg, server, err);
  if (port == 0) {
    actors::log_error("cannot listen on " + scfg.bind + ":"
                      + std::to_string(scfg.port) + ": " + err);
    self->send_exit(gw, caf::exit_reason::user_shutdown);
    self->send_exit(manager, caf::exit_reason::user_shutdown);
    self->send_exit(registry, caf::exit_reason::user_shutdown);
    pool.stop();
    return 1;
  }
  actors::log_info("listening for clients on " + scfg.bind + ":"
                   + std::to_string(port));

  // The CAF API for C++ clients (gateway/api.hpp) on --api-port, bound like
  // the client port. It stops with the gateway.
  {
    gateway::remote_api_config acfg;
    acfg.bind = scfg.bind;
    acfg.port = static_cast<uint16_t>(number(opts, "api-port", 0, 65535));
    acfg.message_bytes_max = gcfg.limits.message_bytes_max;
    acfg.call_timeout = gcfg.request_timeout + std::chrono::seconds{5};
    gateway::api_actor api;
    auto api_port = gateway::start_remote_api(sys, gw, acfg, api, err);
    if (api_port == 0) {
      actors::log_error("cannot publish the API on " + acfg.bind + ":"
                        + std::to_string(acfg.port) + ": " + err);
      self->send_exit(server, caf::exit_reason::user_shutdown);
      self->send_exit(gw, caf::exit_reason::user_shutdown);
      self->send_exit(manager, caf::exit_reason::user_shutdown);
      self->send_exit(registry, caf::exit_reason::user_shutdown);
      pool.stop();
      return 1;
    }
    actors::log_info("listening for api on " + acfg.bind + ":"
                     + std::to_string(api_port));
  }

  // The background scavenger (scavenge_store, every --scavenge-interval-s).
  auto scavenger = gateway::spawn_scavenger(sys, manager, sccfg);

  int sig = 0;
  sigwait(&sigs, &sig);
  actors::log_info(std::string{"shutting down on "}
                   + (sig == SIGINT ? "SIGINT" : "SIGTERM"));
  // Stores first, while client connections still live: requests in work get
  // definite answers (`unavailable`) and subscribers hear `store_stopped`.
  // Then, after a short grace for those last lines, the connections.
  self->monitor(manager);
  self->send_exit(manager, caf::exit_reason::user_shutdown);
  self->receive([](const caf::down_msg&) {},
                caf::after(std::chrono::seconds(10)) >> [] {
                  actors::log_warning("the store manager did not stop in time");
                });
  constexpr auto shutdown_grace = std::chrono::milliseconds{200};
  std::this_thread::sleep_for(shutdown_grace); // the main thread, not CAF's
  self->send_exit(server, caf::exit_reason::user_shutdown);
  self->send_exit(gw, caf::exit_reason::user_shutdown);
  self->send_exit(scavenger, caf::exit_reason::user_shutdown);
  self->send_exit(registry, caf::exit_reason::user_shutdown);
  // Close every store's files before the actor system goes away: jobs still
  // queued run to the end (a transaction in flight commits or not; nothing
  // half-written remains either way).
  pool.stop();
  actors::log_info("stopped");
  return 0;
}
