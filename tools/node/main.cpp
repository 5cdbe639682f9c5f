// cxesdb-node: one node of cxesdb. Opens the stores in its data directory,
// creates the default store, and serves the JSON-RPC client protocol.

#include <atomic>
#include <csignal>
#include <memory>
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
#include "caf/event_based_actor.hpp"
#include "caf/io/middleman.hpp"
#include "caf/openssl/manager.hpp"
#include "caf/openssl/publish.hpp"
#include "caf/scoped_actor.hpp"

#include "actors/io_pool.hpp"
#include "actors/io_thread.hpp"
#include "actors/log.hpp"
#include "actors/raft/node_log.hpp"
#include "actors/registry.hpp"
#include "actors/type_ids.hpp"
#include "gateway/auth.hpp"
#include "gateway/gateway.hpp"
#include "gateway/health_watch.hpp"
#include "gateway/http/http_server.hpp"
#include "gateway/request_metrics.hpp"
#include "stores/store_metrics.hpp"
#include "gateway/json_rpc_server.hpp"
#include "gateway/remote_api.hpp"
#include "gateway/tls.hpp"
#include "gateway/scavenger.hpp"
#include "stores/bootstrap.hpp"
#include "stores/catalog.hpp"
#include "stores/local_leaders.hpp"
#include "stores/store_manager.hpp"
#include "tools/common/version.hpp"
#include "tools/node/options.hpp"
#include "tools/node/sd_notify.hpp"

using namespace cxesdb;

namespace {

/// Every flag, its default and what it means. The config file (--config)
/// takes the same names without the dashes; the environment the names of
/// tools::env_var_name (CXESDB_DATA_DIR for --data-dir).
using flag = tools::node_flag;

const flag flags[] = {
  {"data-dir", "./data", "directory of the stores and the catalog"},
  {"bind", "127.0.0.1", "address the client port binds to"},
  {"client-port", "7411", "JSON-RPC port (0 picks a free one)"},
  {"api-port", "7412", "CAF API port for C++ clients (0 picks a free one)"},
  {"default-store", "default", "store created at start-up, never removed"},
  {"node-name", "node1", "this node's name: unique in its cluster"},
  {"cluster-port", "7413", "port other nodes reach this one on (0: free)"},
  {"http-port", "7414",
   "HTTP port of /metrics, /health, /ready (0: free, off: none)"},
  {"seeds", "",
   "host:port,... of cluster ports to join (none: found a cluster of one); "
   "the same list on every node, each listing itself, founds one cluster"},
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
  {"auth-file", "",
   "JSON file of users and token digests: turns authentication on "
   "(reloaded on SIGHUP)"},
  {"tls-cert", "", "PEM certificate (chain): the client port speaks TLS only"},
  {"tls-key", "", "PEM private key of --tls-cert"},
  {"tls-client-ca", "",
   "PEM CA certificates: clients must present a certificate they signed"},
  {"tls-handshake-timeout-ms", "10000",
   "time a TLS client has to finish its handshake"},
  {"cluster-secret-file", "",
   "file holding the cluster's secret: peers must prove they hold it"},
  {"cluster-tls-cert", "",
   "PEM certificate: the cluster and API ports speak TLS only"},
  {"cluster-tls-key", "", "PEM private key of --cluster-tls-cert"},
  {"cluster-tls-ca", "",
   "PEM CA certificates: peers and API clients must present a certificate "
   "they signed"},
  {"log-level", "info", "least severe log lines written: debug, info, warn, error"},
  {"log-format", "text", "log line format: text, or json (one object per line)"},
  {"scavenge-interval-s", "3600",
   "seconds between background scavenges of the stores led here"},
  {"scavenge-throttle-percent", "50",
   "share of its time a scavenge may work (1-100); it pauses the rest"},
  {"backup-dir", "",
   "where backup_store writes backups (default <data-dir>/_backups)"},
  {"max-backups", "1000", "most backups in the backup directory"},
  {"config", "", "JSON file with any of these flags (without dashes)"},
};

[[noreturn]] void die(const std::string& text) {
  std::cerr << "cxesdb-node: " << text << "\n";
  std::exit(2);
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
  std::vector<std::string> args(argv + 1, argv + argc);
  std::string err;
  auto opts = tools::resolve_node_options(
    flags, std::size(flags), args,
    [](const std::string& name) { return std::getenv(name.c_str()); }, err);
  if (!opts)
    die(err);
  if (opts->help) {
    tools::write_node_usage(std::cout, flags, std::size(flags));
    std::exit(0);
  }
  if (opts->version) {
    std::cout << tools::version_line("cxesdb-node") << "\n";
    std::exit(0);
  }
  auto level = actors::parse_log_level(opts->values["log-level"]);
  if (!level)
    die("--log-level must be debug, info, warn or error, not '"
        + opts->values["log-level"] + "'");
  auto format = actors::parse_log_format(opts->values["log-format"]);
  if (!format)
    die("--log-format must be text or json, not '"
        + opts->values["log-format"] + "'");
  actors::set_log_level(*level);
  actors::set_log_format(*format);
  if (actors::log_enabled(actors::log_level::debug))
    for (auto& kv : opts->values)
      actors::log_debug("option " + kv.first + " = " + kv.second + " ("
                          + tools::to_string(opts->sources[kv.first]) + ")",
                        {{"option", kv.first},
                         {"value", kv.second},
                         {"source", tools::to_string(opts->sources[kv.first])}});
  return std::move(opts->values);
}

/// Tells systemd (Type=notify) how the node is doing; a failure is logged,
/// never fatal.
void notify_service_manager(const std::string& state) {
  std::string err;
  if (!tools::sd_notify(state, err))
    actors::log_warning("cannot notify the service manager: " + err);
}

} // namespace

int main(int argc, char** argv) {
  auto opts = parse_args(argc, argv);
  if (!stores::valid_store_id(opts["default-store"]))
    die("--default-store must match ^[a-z][a-z0-9_]{0,62}$");
  // The config file's store_templates (protocol section 10): a bad one
  // stops the start.
  std::shared_ptr<const nlohmann::json> store_templates;
  if (auto t = opts.find(tools::store_templates_key); t != opts.end()) {
    auto parsed = nlohmann::json::parse(t->second, nullptr, false);
    if (auto e = gateway::check_store_templates(parsed))
      die(*e);
    store_templates = std::make_shared<const nlohmann::json>(std::move(parsed));
  }
  // Loads TLS files as the node will use them; a bad one stops the start
  // with the file's name and OpenSSL's reason.
  auto load_tls = [](const std::string& cert, const std::string& key,
                     const std::string& ca) {
    gateway::tls_server_config tcfg;
    tcfg.cert_file = cert;
    tcfg.key_file = key;
    tcfg.client_ca_file = ca;
    std::string tls_err;
    auto ctx = gateway::tls_server_context::make(tcfg, tls_err);
    if (!ctx)
      die(tls_err);
    return ctx;
  };
  // TLS on the client port (protocol section 8).
  std::shared_ptr<const gateway::tls_server_context> tls;
  if (!opts["tls-cert"].empty() || !opts["tls-key"].empty()
      || !opts["tls-client-ca"].empty()) {
    if (opts["tls-cert"].empty() || opts["tls-key"].empty())
      die("--tls-cert and --tls-key go together (and --tls-client-ca needs "
          "them)");
    tls = load_tls(opts["tls-cert"], opts["tls-key"], opts["tls-client-ca"]);
  }
  // The cluster secret and TLS between nodes (protocol section 8): bad
  // files stop the start. CAF's OpenSSL module throws on a file it cannot
  // load, on its network thread: the files are loaded once here first.
  actors::peer_secret cluster_secret;
  if (!opts["cluster-secret-file"].empty()) {
    std::string secret_err;
    if (!cluster_secret.load(opts["cluster-secret-file"], secret_err))
      die(secret_err);
  }
  bool cluster_tls = !opts["cluster-tls-cert"].empty()
                     || !opts["cluster-tls-key"].empty()
                     || !opts["cluster-tls-ca"].empty();
  if (cluster_tls) {
    if (opts["cluster-tls-cert"].empty() || opts["cluster-tls-key"].empty()
        || opts["cluster-tls-ca"].empty())
      die("--cluster-tls-cert, --cluster-tls-key and --cluster-tls-ca go "
          "together");
    load_tls(opts["cluster-tls-cert"], opts["cluster-tls-key"],
             opts["cluster-tls-ca"]);
  }
  // Authentication (protocol section 8): a bad file stops the start.
  std::shared_ptr<gateway::auth_registry> auth;
  if (!opts["auth-file"].empty()) {
    auth = std::make_shared<gateway::auth_registry>(opts["auth-file"]);
    std::string auth_err;
    if (!auth->load(auth_err))
      die(auth_err);
  }
  // Signals are taken by sigwait on this thread only: block them before any
  // other thread starts, so that they inherit the mask.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGHUP); // reloads the auth file
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
  if (cluster_tls) {
    // Both sides of every cluster and API connection present a certificate
    // the CA signed (CAF's OpenSSL module, libcaf_openssl).
    cfg.load<caf::openssl::manager>();
    cfg.openssl_certificate = opts["cluster-tls-cert"];
    cfg.openssl_key = opts["cluster-tls-key"];
    cfg.openssl_cafile = opts["cluster-tls-ca"];
  }
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
  std::vector<std::string> seeds;
  for (size_t i = 0; i < opts["seeds"].size();) {
    auto j = opts["seeds"].find(',', i);
    if (j == std::string::npos)
      j = opts["seeds"].size();
    if (j > i)
      seeds.push_back(opts["seeds"].substr(i, j - i));
    i = j + 1;
  }
  // Trimmed, without repeats, in the order the bootstrap rule reads them.
  rcfg.seeds = stores::normalize_seeds(seeds);
  rcfg.secret = cluster_secret;
  if (cluster_tls)
    rcfg.connector = caf::actor_cast<caf::actor>(
      sys.openssl_manager().actor_handle());
  auto registry = actors::spawn_registry(sys, rcfg);
  auto cluster_port_flag = static_cast<uint16_t>(
    number(opts, "cluster-port", 0, 65535));
  auto cluster_port
    = cluster_tls ? caf::openssl::publish(registry, cluster_port_flag,
                                          opts["bind"].c_str(), true)
                  : sys.middleman().publish(registry, cluster_port_flag,
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
  actors::log_info("listening for peers on " + cluster_address
                     + (cluster_tls ? " (TLS)" : "")
                     + (cluster_secret.enabled() ? " (cluster secret)" : ""),
                   {{"address", cluster_address}});

  // HTTP (/metrics, /health, /ready) from the start: /health answers 503
  // while the replicas load.
  auto health = std::make_shared<gateway::http::node_health>();
  auto open_connections = std::make_shared<std::atomic<int64_t>>(0);
  auto request_counts = std::make_shared<gateway::request_metrics>();
  auto store_counts = std::make_shared<stores::store_metrics>();
  std::unique_ptr<gateway::http::http_server> http;
  if (opts["http-port"] != "off") {
    gateway::http::http_config hcfg;
    hcfg.bind = opts["bind"];
    hcfg.port = static_cast<uint16_t>(number(opts, "http-port", 0, 65535));
    hcfg.node_name = opts["node-name"];
    gateway::http::metric_sources sources;
    sources.connections = [open_connections] {
      return open_connections->load(std::memory_order_relaxed);
    };
    sources.requests = [request_counts] { return request_counts->figures(); };
    sources.stores = [store_counts] { return store_counts->figures(); };
    std::string http_err;
    http = gateway::http::http_server::start(hcfg, health, sources, http_err);
    if (!http) {
      actors::log_error("cannot listen for http on " + hcfg.bind + ":"
                        + opts["http-port"] + ": " + http_err);
      caf::anon_send_exit(registry, caf::exit_reason::user_shutdown);
      return 1;
    }
    auto http_address = opts["bind"] + ":" + std::to_string(http->port());
    actors::log_info("listening for http on " + http_address,
                     {{"address", http_address}});
  } else {
    actors::log_info("http off (--http-port off)");
  }

  stores::store_manager_config mcfg;
  mcfg.registry = registry;
  mcfg.cluster_address = cluster_address;
  mcfg.data_dir = opts["data-dir"];
  mcfg.node_name = opts["node-name"];
  // No seeds: a cluster of one. This node's address among its seeds: one
  // identical list on every node, the founding seed founds the cluster
  // (stores/bootstrap.hpp). Otherwise the node joins its seeds' cluster.
  mcfg.seeds = rcfg.seeds;
  mcfg.tick_interval_ms = number(opts, "raft-tick-ms", 1, 10000);
  mcfg.default_store = opts["default-store"];
  mcfg.stores_max = number(opts, "max-stores", 1, 1000000);
  mcfg.readers_per_store = number(opts, "readers-per-store", 1, 64);
  mcfg.backup_dir = opts["backup-dir"].empty()
                      ? mcfg.data_dir + "/_backups"
                      : opts["backup-dir"];
  mcfg.backup.backups_max = number(opts, "max-backups", 1, 1000000);
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
                     + mcfg.data_dir,
                   {{"node", opts["node-name"]},
                    {"data_dir", mcfg.data_dir},
                    {"version", tools::version_line("cxesdb-node")}});
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
  mcfg.metrics = store_counts;
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
  gcfg.auth = auth;
  gcfg.metrics = request_counts;
  gcfg.store_templates = store_templates;
  gcfg.scavenge.percent
    = number(opts, "scavenge-throttle-percent",
             gateway::scavenge_throttle::percent_min,
             gateway::scavenge_throttle::percent_max);
  auto gw = gateway::spawn_gateway(sys, manager, gcfg);
  gateway::scavenger_config sccfg;
  sccfg.interval
    = std::chrono::seconds{number(opts, "scavenge-interval-s", 1, 100000000)};
  sccfg.leaders = mcfg.leaders;
  sccfg.throttle = gcfg.scavenge;

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
  scfg.tls = tls;
  scfg.tls_handshake_timeout_ms
    = number(opts, "tls-handshake-timeout-ms", 1, 3600000);
  scfg.open_connections = open_connections;
  caf::actor server;
  std::string err;
  auto port = gateway::start_json_rpc_server(sys, gw, scfg, server, err,
                                             auth);
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
                     + std::to_string(port)
                     + (tls ? tls->requires_client_cert()
                                ? " (TLS, client certificates required)"
                                : " (TLS)"
                            : ""),
                   {{"address", scfg.bind + ":" + std::to_string(port)}});

  // The CAF API for C++ clients (gateway/api.hpp) on --api-port, bound like
  // the client port. It stops with the gateway.
  {
    gateway::remote_api_config acfg;
    acfg.bind = scfg.bind;
    acfg.port = static_cast<uint16_t>(number(opts, "api-port", 0, 65535));
    acfg.message_bytes_max = gcfg.limits.message_bytes_max;
    acfg.call_timeout = gcfg.request_timeout + std::chrono::seconds{5};
    acfg.auth = auth;
    acfg.tls = cluster_tls;
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
                       + std::to_string(api_port) + (cluster_tls ? " (TLS)" : ""),
                     {{"address", acfg.bind + ":" + std::to_string(api_port)}});
  }

  if (auth)
    actors::log_info("authentication on: "
                     + std::to_string(auth->current()->users().size())
                     + " users in " + auth->path());
  // Every listener is up and every replica loaded: systemd's Type=notify
  // unit counts the node as started from here.
  notify_service_manager("READY=1\nSTATUS=serving clients");
  health->set(gateway::http::node_health::phase::serving);
  // Should the store manager go down while the node runs, /health says so.
  auto watcher = gateway::spawn_health_watch(sys, manager, health);
  // The background scavenger (scavenge_store, every --scavenge-interval-s).
  auto scavenger = gateway::spawn_scavenger(sys, manager, sccfg);

  int sig = 0;
  for (;;) {
    sigwait(&sigs, &sig);
    if (sig != SIGHUP)
      break;
    // Reload the auth file: a connection whose user is gone (or whose token
    // changed) is refused from its next request. A bad file changes
    // nothing. Never logs a token or a digest.
    if (!auth) {
      actors::log_info("SIGHUP: no --auth-file to reload");
      continue;
    }
    std::string auth_err;
    if (auth->load(auth_err))
      actors::log_info("auth file reloaded: "
                       + std::to_string(auth->current()->users().size())
                       + " users");
    else
      actors::log_error("auth file not reloaded, the previous one stays: "
                        + auth_err);
  }
  actors::log_info(std::string{"shutting down on "}
                   + (sig == SIGINT ? "SIGINT" : "SIGTERM"));
  notify_service_manager("STOPPING=1");
  health->set(gateway::http::node_health::phase::stopping);
  self->send_exit(watcher, caf::exit_reason::user_shutdown);
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
