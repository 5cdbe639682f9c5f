#include "tests/integration/cluster.hpp"

#include <cstdlib>
#include <sqlite3.h>
#include <sstream>
#include <stdexcept>
#include <sys/stat.h>
#include <thread>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace cxesdb::tests {

namespace {

using clock_type = std::chrono::steady_clock;

bool file_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

} // namespace

std::vector<replica_row> read_replica_file(const std::string& path) {
  if (!file_exists(path))
    throw std::runtime_error("read_replica: no such file: " + path);
  sqlite3* db = nullptr;
  auto uri = "file:" + path + "?mode=ro";
  auto rc = sqlite3_open_v2(uri.c_str(), &db,
                            SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, nullptr);
  auto fail = [&](const std::string& what) {
    std::string msg = "read_replica: " + what + " " + path + ": "
                      + (db != nullptr ? sqlite3_errmsg(db)
                                       : sqlite3_errstr(rc));
    sqlite3_close(db);
    throw std::runtime_error(msg);
  };
  if (rc != SQLITE_OK)
    fail("cannot open");
  sqlite3_busy_timeout(db, 5000);
  sqlite3_stmt* stmt = nullptr;
  const char* sql = "SELECT position, stream_id, event_number, event_id "
                    "FROM events ORDER BY position";
  if (sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr) != SQLITE_OK)
    fail("cannot query");
  std::vector<replica_row> rows;
  for (;;) {
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_DONE)
      break;
    if (rc != SQLITE_ROW) {
      sqlite3_finalize(stmt);
      fail("cannot read");
    }
    replica_row row;
    row.position = sqlite3_column_int64(stmt, 0);
    row.stream_id = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 1));
    row.event_number = sqlite3_column_int64(stmt, 2);
    row.event_id = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 3));
    rows.push_back(std::move(row));
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return rows;
}

bool wait_until(const std::function<bool()>& pred,
                std::chrono::milliseconds timeout,
                std::chrono::milliseconds poll) {
  auto deadline = clock_type::now() + timeout;
  for (;;) {
    if (pred())
      return true;
    if (clock_type::now() >= deadline)
      return false;
    std::this_thread::sleep_for(poll);
  }
}

namespace {

/// Free TCP ports on 127.0.0.1, distinct: each is bound (port 0) while the
/// next is picked, then all are released for the nodes to take.
std::vector<uint16_t> free_ports(size_t n) {
  std::vector<int> fds;
  std::vector<uint16_t> ports;
  for (size_t i = 0; i < n; ++i) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
      throw std::runtime_error("cluster: socket failed");
    fds.push_back(fd);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof(addr);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0
        || ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      for (auto f : fds)
        ::close(f);
      throw std::runtime_error("cluster: cannot pick a free port");
    }
    ports.push_back(ntohs(addr.sin_port));
  }
  for (auto f : fds)
    ::close(f);
  return ports;
}

} // namespace

cluster::cluster(cluster_options opts) : opts_(std::move(opts)) {
  if (!opts_.identical_seeds) {
    for (size_t i = 0; i < opts_.nodes; ++i)
      add_node();
    return;
  }
  auto ports = free_ports(opts_.nodes);
  for (size_t i = 1; i <= opts_.nodes; ++i) {
    auto o = options_for(i);
    o.cluster_port = ports[i - 1];
    o.start_now = false;
    nodes_.push_back(std::make_unique<node_process>(std::move(o)));
  }
  auto seeds = identical_seed_list();
  for (auto& n : nodes_)
    n->options().seeds = seeds;
}

std::vector<std::string> cluster::identical_seed_list() const {
  std::vector<std::string> out;
  for (auto& n : nodes_) {
    auto& o = n->options();
    out.push_back(o.bind + ":" + std::to_string(o.cluster_port.value_or(0)));
  }
  return out;
}

void cluster::launch(size_t i) {
  node(i).launch();
}

void cluster::wait_started(size_t i) {
  auto& n = node(i);
  n.wait_listening();
  n.options().client_port = n.port(); // pinned like the cluster port
}

cluster::~cluster() {
  for (auto& n : nodes_)
    n->resume();
  // Later nodes first: the founding node goes last, as an operator would.
  while (!nodes_.empty())
    nodes_.pop_back();
}

void cluster::check_index(size_t i) const {
  if (i < 1 || i > nodes_.size())
    throw std::logic_error("cluster: no node " + std::to_string(i) + " (1.."
                           + std::to_string(nodes_.size()) + ")");
}

node_process& cluster::node(size_t i) {
  check_index(i);
  return *nodes_[i - 1];
}

std::string cluster::name(size_t i) {
  return "node" + std::to_string(i);
}

std::optional<size_t> cluster::index_of(const std::string& name) const {
  for (size_t i = 1; i <= nodes_.size(); ++i)
    if (cluster::name(i) == name)
      return i;
  return std::nullopt;
}

node_options cluster::options_for(size_t i) const {
  node_options o;
  o.binary = opts_.binary;
  o.node_name = name(i);
  o.cluster_port = 0;
  o.extra_args = opts_.extra_args;
  o.start_timeout = opts_.start_timeout;
  o.stop_timeout = opts_.stop_timeout;
  if (i <= opts_.binds.size())
    o.bind = opts_.binds[i - 1];
  if (i <= opts_.netns.size())
    o.netns = opts_.netns[i - 1];
  return o;
}

std::vector<std::string> cluster::seeds_except(size_t i) const {
  std::vector<std::string> out;
  for (size_t j = 1; j <= nodes_.size(); ++j) {
    if (j == i)
      continue;
    // A node that is down has cluster_port() 0, but its pinned port is in its
    // options: a seed list names every member, up or not.
    auto& o = nodes_[j - 1]->options();
    if (o.cluster_port && *o.cluster_port != 0)
      out.push_back(o.bind + ":" + std::to_string(*o.cluster_port));
  }
  return out;
}

size_t cluster::add_node() {
  auto i = nodes_.size() + 1;
  auto o = options_for(i);
  for (size_t j = 1; j < i; ++j)
    if (nodes_[j - 1]->running())
      o.seeds.push_back(nodes_[j - 1]->cluster_address());
  nodes_.push_back(std::make_unique<node_process>(std::move(o)));
  auto& n = *nodes_.back();
  n.options().client_port = n.port(); // pinned like the cluster port
  return i;
}

void cluster::kill(size_t i) {
  node(i).kill9();
}

void cluster::stop(size_t i) {
  node(i).suspend();
}

void cluster::cont(size_t i) {
  node(i).resume();
}

std::optional<int> cluster::shutdown(size_t i) {
  return node(i).stop();
}

void cluster::shutdown_all() {
  for (auto i = nodes_.size(); i >= 1; --i)
    shutdown(i);
}

void cluster::restart(size_t i) {
  auto& n = node(i);
  n.stop();
  if (!opts_.identical_seeds)
    n.options().seeds = seeds_except(i);
  n.start();
}

bool cluster::alive(size_t i) {
  auto& n = node(i);
  return n.running() && !n.suspended();
}

std::vector<size_t> cluster::alive_nodes() {
  std::vector<size_t> out;
  for (size_t i = 1; i <= nodes_.size(); ++i)
    if (alive(i))
      out.push_back(i);
  return out;
}

std::vector<uint16_t> cluster::client_ports() const {
  std::vector<uint16_t> out;
  for (auto& n : nodes_)
    out.push_back(n->port());
  return out;
}

std::vector<std::string> cluster::client_hosts() const {
  std::vector<std::string> out;
  for (auto& n : nodes_)
    out.push_back(n->host());
  return out;
}

gateway::json_client cluster::client(size_t i, int timeout_ms) {
  return node(i).connect(timeout_ms);
}

std::optional<nlohmann::json> cluster::try_status(size_t i, int timeout_ms) {
  if (!alive(i))
    return std::nullopt;
  gateway::json_client c;
  if (c.connect(node(i).host(), node(i).port(), timeout_ms))
    return std::nullopt;
  auto resp = c.call("cluster_status", nlohmann::json::object(), timeout_ms);
  if (!resp || !resp->contains("result") || !(*resp)["result"].is_object())
    return std::nullopt;
  return (*resp)["result"];
}

nlohmann::json cluster::status(size_t i, int timeout_ms) {
  if (auto st = try_status(i, timeout_ms))
    return *st;
  throw std::runtime_error("cluster: no cluster_status answer from "
                           + name(i));
}

std::optional<nlohmann::json> cluster::store_status(size_t i,
                                                   const std::string& store) {
  auto st = try_status(i);
  if (!st)
    return std::nullopt;
  auto stores = st->value("stores", nlohmann::json::object());
  if (!stores.is_object() || !stores.contains(store))
    return std::nullopt;
  return stores[store];
}

std::optional<size_t> cluster::leader_of(const std::string& store) {
  for (auto i : alive_nodes()) {
    auto st = store_status(i, store);
    if (!st)
      continue;
    auto leader = st->value("leader", nlohmann::json{});
    if (!leader.is_string())
      continue;
    if (auto idx = index_of(leader.get<std::string>()))
      return idx;
  }
  return std::nullopt;
}

std::vector<size_t> cluster::members_of(const std::string& store) {
  for (auto i : alive_nodes()) {
    auto st = store_status(i, store);
    if (!st)
      continue;
    std::vector<size_t> out;
    for (auto& m : st->value("members", nlohmann::json::array()))
      if (m.is_string())
        if (auto idx = index_of(m.get<std::string>()))
          out.push_back(*idx);
    return out;
  }
  return {};
}

bool cluster::sees_all_up(size_t i) {
  auto st = try_status(i);
  if (!st || !(*st)["nodes"].is_array())
    return false;
  for (auto j : alive_nodes()) {
    bool up = false;
    for (auto& n : (*st)["nodes"])
      if (n.is_object() && n.value("name", "") == name(j)
          && n.value("status", "") == "up")
        up = true;
    if (!up)
      return false;
  }
  return true;
}

bool cluster::wait_all_up(std::chrono::milliseconds timeout) {
  return wait_until(
    [this] {
      for (auto i : alive_nodes())
        if (!sees_all_up(i))
          return false;
      return true;
    },
    timeout, std::chrono::milliseconds{100});
}

std::string cluster::replica_path(size_t i, const std::string& store) const {
  check_index(i);
  return nodes_[i - 1]->data_dir() + "/" + store + "/store.db";
}

bool cluster::has_replica(size_t i, const std::string& store) const {
  return file_exists(replica_path(i, store));
}

std::vector<replica_row> cluster::read_replica(size_t i,
                                               const std::string& store) {
  auto& n = node(i);
  if (n.running() && !n.suspended())
    throw std::logic_error("read_replica: " + name(i)
                           + " is running; stop (SIGSTOP) or end it first");
  return read_replica_file(replica_path(i, store));
}

replica_state cluster::replica(size_t i, const std::string& store,
                               bool may_lag) {
  return {name(i), read_replica(i, store), may_lag};
}

bool cluster::wait_replicas_agree(const std::string& store,
                                  const std::vector<size_t>& nodes,
                                  size_t rows_min,
                                  std::chrono::milliseconds timeout) {
  return wait_until(
    [&] {
      std::optional<std::vector<replica_row>> first;
      for (auto i : nodes) {
        if (!has_replica(i, store))
          return false;
        auto& n = node(i);
        bool freeze = n.running() && !n.suspended();
        if (freeze)
          n.suspend();
        std::vector<replica_row> rows;
        try {
          rows = read_replica(i, store);
        } catch (const std::runtime_error&) {
          // e.g. the store's files are being created: try again later
        }
        if (freeze)
          n.resume();
        if (rows.size() < rows_min)
          return false;
        if (!first)
          first = std::move(rows);
        else if (rows != *first)
          return false;
      }
      return true;
    },
    timeout, std::chrono::milliseconds{200});
}

std::string cluster::describe() const {
  std::ostringstream out;
  for (size_t i = 1; i <= nodes_.size(); ++i) {
    auto& n = *nodes_[i - 1];
    out << name(i) << ": pid " << n.pid() << ", client port " << n.port()
        << ", cluster port " << n.cluster_port()
        << (n.suspended() ? ", stopped (SIGSTOP)" : "") << ", temp dir "
        << n.temp_dir() << '\n';
  }
  if (std::getenv("CXESDB_KEEP_TMP") == nullptr)
    out << "(set CXESDB_KEEP_TMP=1 to keep the temp dirs)\n";
  return out.str();
}

std::string cluster::post_mortem(size_t log_bytes) const {
  auto out = describe();
  for (size_t i = 1; i <= nodes_.size(); ++i)
    out += "--- " + name(i) + " log tail:\n"
           + nodes_[i - 1]->log_tail(log_bytes) + "\n";
  return out;
}

} // namespace cxesdb::tests
