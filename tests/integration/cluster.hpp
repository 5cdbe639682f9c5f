#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "gateway/client/json_client.hpp"
#include "tests/integration/history_check.hpp"
#include "tests/integration/node_process.hpp"

namespace cxesdb::tests {

/// How to start a cluster of real nodes.
struct cluster_options {
  /// Nodes started by the constructor.
  size_t nodes = 3;

  /// Path of the node binary. Empty: the `CXESDB_NODE` environment variable.
  std::string binary;

  /// Flags every node gets after the harness's own (e.g.
  /// `{"--request-timeout-ms", "2000"}`).
  std::vector<std::string> extra_args;

  /// How long each node may take to print its listening lines.
  std::chrono::milliseconds start_timeout = std::chrono::seconds{60};

  /// How long each node may take to exit after SIGTERM.
  std::chrono::milliseconds stop_timeout = std::chrono::seconds{20};

  /// The identical configuration (docs/operations.md, "Starting a
  /// cluster"): the constructor picks a free cluster port for each of the
  /// `nodes` nodes and starts none of them; every node, at every start,
  /// gets `--seeds` listing all of them, itself included. Start them in
  /// any interleaving with `launch` and `wait_started`.
  bool identical_seeds = false;

  /// Node `i`'s `--bind` address is `binds[i - 1]`; 127.0.0.1 for the nodes
  /// beyond the list.
  std::vector<std::string> binds;

  /// Node `i` runs in the network namespace `netns[i - 1]`
  /// (tests/integration/netns.hpp); in the test's own beyond the list.
  std::vector<std::string> netns;
};

/// Polls `pred` every `poll` until it returns true or `timeout` has passed;
/// returns its last value. For integration tests only: unit and actor tests
/// never wait on the clock.
bool wait_until(const std::function<bool()>& pred,
                std::chrono::milliseconds timeout,
                std::chrono::milliseconds poll = std::chrono::milliseconds{50});

/// Reads the events table of the store database at `path` (a replica's
/// `store.db`) read-only, in position order; see `cluster::read_replica` for
/// how and when. Throws std::runtime_error when the file is missing or
/// unreadable.
std::vector<replica_row> read_replica_file(const std::string& path);

/// A cluster of real `cxesdb-node` processes on 127.0.0.1 for integration
/// tests, each a `node_process` with its own temp dir (and so its own data
/// dir and log).
///
/// Nodes are numbered from 1 and named after their number: node `i` runs
/// with `--node-name node<i>`. Node 1 starts without `--seeds` (it founds the
/// cluster); every later node is seeded with the cluster addresses of the
/// nodes started before it. Each node starts with `--cluster-port 0` and
/// `--client-port 0`; the ports it reports are then pinned, so that a
/// restart binds the same ports (peers know a node by its cluster address).
/// A restart seeds the node with every other node of the fixture, so that
/// node 1, too, finds the cluster again rather than founding a new one.
/// With `cluster_options::identical_seeds`, every node instead gets one
/// seed list naming all of them, and the test starts them.
///
/// Not thread-safe: drive it from the test's main thread (the node
/// processes die with the thread that started them, see node_process). Hand
/// worker threads port numbers (`client_ports`), not the fixture.
///
/// With `CXESDB_KEEP_TMP` set, every node's temp dir (data and log) is kept
/// for a post-mortem; `describe()` lists them.
class cluster {
public:
  /// Starts `opts.nodes` nodes, one after the other. Throws
  /// std::runtime_error (with the node's log tail) if one does not come up.
  /// Does not wait for the nodes to see each other: see `wait_all_up`.
  explicit cluster(cluster_options opts = {});

  cluster(const cluster&) = delete;
  cluster& operator=(const cluster&) = delete;

  /// Resumes suspended nodes, then stops every node (node_process's
  /// destructor: SIGTERM, SIGKILL after 5 s).
  ~cluster();

  /// Nodes ever started (including killed ones); valid indexes are
  /// 1..size().
  size_t size() const noexcept {
    return nodes_.size();
  }

  /// Node `i` (1-based).
  node_process& node(size_t i);

  /// `node<i>`, the node's `--node-name`.
  static std::string name(size_t i);

  /// The index of the node called `name`, or nothing.
  std::optional<size_t> index_of(const std::string& name) const;

  /// Kills node `i` with SIGKILL (no chance to flush or say goodbye).
  void kill(size_t i);

  /// Freezes node `i` with SIGSTOP: its sockets stay open, it answers
  /// nothing.
  void stop(size_t i);

  /// Lets node `i` run again after `stop` (SIGCONT).
  void cont(size_t i);

  /// Stops node `i` cleanly (SIGTERM); returns its exit status, nothing when
  /// it had to be killed after `stop_timeout`.
  std::optional<int> shutdown(size_t i);

  /// Stops every running node cleanly, the last started first.
  void shutdown_all();

  /// Stops node `i` if it runs (SIGTERM) and starts it again on the same
  /// data dir, with the same ports, seeded with every other node.
  void restart(size_t i);

  /// Starts a new node, seeded with the running nodes; returns its index.
  size_t add_node();

  /// With `identical_seeds`: starts node `i` (which must not run) and
  /// returns at once; it serves clients only once it is part of the
  /// cluster. See `wait_started`.
  void launch(size_t i);

  /// Waits until node `i`, started by `launch`, listens for clients (it is
  /// part of the cluster), then pins its client port. Throws
  /// std::runtime_error with the node's log tail when it does not in
  /// `start_timeout`.
  void wait_started(size_t i);

  /// The `--seeds` list of an `identical_seeds` cluster, as every node gets
  /// it.
  std::vector<std::string> identical_seed_list() const;

  /// True when node `i` runs and is not frozen by `stop`.
  bool alive(size_t i);

  /// The indexes of the alive nodes.
  std::vector<size_t> alive_nodes();

  /// The client port of every node, in index order (0 for a node that does
  /// not run). A snapshot for worker threads.
  std::vector<uint16_t> client_ports() const;

  /// The address of every node's client port, in index order (the node's
  /// `--bind`). A snapshot for worker threads, with `client_ports`.
  std::vector<std::string> client_hosts() const;

  /// A new JSON client connected to node `i`. Throws std::runtime_error
  /// when it cannot connect.
  gateway::json_client client(size_t i, int timeout_ms = 5000);

  /// The result of `cluster_status` through node `i`, or nothing when the
  /// node does not answer in time or answers with an error.
  std::optional<nlohmann::json> try_status(size_t i, int timeout_ms = 5000);

  /// Like `try_status`, but throws std::runtime_error instead of returning
  /// nothing.
  nlohmann::json status(size_t i, int timeout_ms = 5000);

  /// `store`'s entry in cluster_status through node `i`; nothing when the
  /// node does not answer or does not list the store.
  std::optional<nlohmann::json> store_status(size_t i,
                                             const std::string& store);

  /// The index of the node that cluster_status names as `store`'s leader,
  /// asking the alive nodes in turn until one answers with a leader;
  /// nothing when none does.
  std::optional<size_t> leader_of(const std::string& store);

  /// The indexes of `store`'s members per cluster_status of the first alive
  /// node that answers; empty when none does or the store is not listed.
  std::vector<size_t> members_of(const std::string& store);

  /// True when cluster_status through node `i` lists every running node of
  /// the fixture with status `up`.
  bool sees_all_up(size_t i);

  /// Waits until every alive node `sees_all_up`.
  bool wait_all_up(std::chrono::milliseconds timeout);

  /// True when node `i`'s data dir has `<store>/store.db`.
  bool has_replica(size_t i, const std::string& store) const;

  /// The path of node `i`'s replica of `store`: `<data dir>/<store>/store.db`.
  std::string replica_path(size_t i, const std::string& store) const;

  /// The rows of node `i`'s replica of `store` (its events table, in
  /// position order).
  ///
  /// Allowed only while the node does not run or is frozen by `stop`: a
  /// running node changes the file under the reader, and the rows of
  /// several replicas would then come from different moments. Throws
  /// std::logic_error otherwise, std::runtime_error when the file is missing
  /// or unreadable.
  ///
  /// The database is opened with SQLITE_OPEN_READONLY (`file:...?mode=ro`),
  /// not `immutable=1`: a read-only connection still follows SQLite's WAL
  /// protocol, so it sees the transactions in `store.db-wal` that a killed
  /// node never checkpointed, and it never writes the database or
  /// checkpoints (it may rebuild the `-shm` index, which holds no data).
  /// `immutable` would skip the WAL index and could miss those transactions.
  std::vector<replica_row> read_replica(size_t i, const std::string& store);

  /// `read_replica` as the checker's input, named after the node.
  replica_state replica(size_t i, const std::string& store,
                        bool may_lag = false);

  /// Waits until the replicas of `store` on `nodes` hold the same rows and
  /// at least `rows_min` of them. Reads each running node while it is
  /// frozen for a moment (stop, read, cont); nodes that do not run are read
  /// as they are. Returns false at the timeout (the caller's checker then
  /// says what differs).
  bool wait_replicas_agree(const std::string& store,
                           const std::vector<size_t>& nodes, size_t rows_min,
                           std::chrono::milliseconds timeout);

  /// Every node's name, pid, ports and temp dir, for failure messages.
  std::string describe() const;

  /// `describe()` followed by the log tail of each node.
  std::string post_mortem(size_t log_bytes = 1500) const;

private:
  node_options options_for(size_t i) const;
  std::vector<std::string> seeds_except(size_t i) const;
  void check_index(size_t i) const;

  cluster_options opts_;
  std::vector<std::unique_ptr<node_process>> nodes_;
};

} // namespace cxesdb::tests
