#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

#include "gateway/client/json_client.hpp"

namespace cxesdb::tests {

/// How to start one `cxesdb-node` process for a test.
struct node_options {
  /// Path of the node binary. Empty: the `CXESDB_NODE` environment variable.
  std::string binary;

  /// Data directory. Empty: `<temp dir>/data`, created by the harness.
  std::string data_dir;

  /// Value of `--node-name`; empty: the flag is not passed.
  std::string node_name;

  /// Address passed to `--bind`; clients and peers reach the node there.
  std::string bind = "127.0.0.1";

  /// Network namespace (`ip netns` name, tests/integration/netns.hpp) the
  /// node runs in; empty: the test's own.
  std::string netns;

  /// Value of `--client-port`; 0 lets the node pick a free port.
  uint16_t client_port = 0;

  /// Value of `--api-port` (the CAF API), passed after `extra_args` unless
  /// they name it; 0 lets the node pick a free port.
  /// (`--http-port 0` is passed the same way: a free HTTP port unless
  /// `extra_args` name one.)
  uint16_t api_port = 0;
  /// Value of `--cluster-port`; nothing: 0 is passed and not waited for (a
  /// node that takes no peers). 0 lets the node pick a free port: the harness then
  /// waits for the line `listening for peers on HOST:PORT` too and pins the
  /// reported port here, so that a restart binds the same port (peers know
  /// the node by that address).
  std::optional<uint16_t> cluster_port;

  /// Cluster addresses (`host:port`) of other nodes, passed as
  /// `--seeds a,b`; empty: the flag is not passed (the first node).
  std::vector<std::string> seeds;

  /// Further flags, passed as they are after the ones above
  /// (e.g. `{"--max-message-bytes", "4096"}`).
  std::vector<std::string> extra_args;

  /// False: the constructor makes the temp dir but starts nothing; `start`
  /// (or `launch` and `wait_listening`) starts the node later.
  bool start_now = true;

  /// How long `start` and `restart` wait for the listening line.
  std::chrono::milliseconds start_timeout = std::chrono::seconds{30};

  /// How long `stop` waits for the process to exit after SIGTERM.
  std::chrono::milliseconds stop_timeout = std::chrono::seconds{20};
};

/// A real `cxesdb-node` process started by a test: it owns a temporary
/// directory (made with mkdtemp) that holds the data directory and the node's
/// log (its stderr and stdout), starts the node with fork/exec, waits for the
/// line `listening for clients on HOST:PORT` in the log and parses the port
/// (and, with `cluster_port` set, for `listening for peers on HOST:PORT`).
///
/// The process never outlives the harness: the destructor kills it, and the
/// child asks the kernel (PR_SET_PDEATHSIG) to kill it when the thread that
/// started it dies, which covers a test binary that crashes or is killed by a
/// timeout. Construct and restart it from a thread that lives as long as the
/// node should (normally the test's main thread).
///
/// Not thread-safe. Several instances may run at once (a cluster), each with
/// its own temp dir; pass `data_dir` to place data elsewhere.
class node_process {
public:
  /// Makes the temp dir and starts the node. Throws std::runtime_error, with
  /// the tail of the node's log, if it does not come up in time.
  explicit node_process(node_options opts = {});

  node_process(const node_process&) = delete;
  node_process& operator=(const node_process&) = delete;

  /// Kills the node if it still runs and removes the temp dir (unless the
  /// environment variable `CXESDB_KEEP_TMP` is set, for post-mortems).
  ~node_process();

  /// Client port of the running node.
  uint16_t port() const noexcept {
    return port_;
  }

  /// API port (`--api-port`) of the running node, parsed from the line
  /// `listening for api on HOST:PORT`; waits for that line up to
  /// `start_timeout`. Throws std::runtime_error when it does not come.
  uint16_t api_port();
  /// Cluster (peer) port of the running node, or 0 when it is not running or
  /// was started without `cluster_port`.
  uint16_t cluster_port() const noexcept {
    return cluster_port_;
  }

  /// The address clients connect to: `bind`, or 127.0.0.1 for 0.0.0.0.
  std::string host() const;

  /// `bind:cluster_port`, the address other nodes take as a seed; empty
  /// while `cluster_port()` is 0.
  std::string cluster_address() const;

  /// Process id of the running node, or -1 when it is not running.
  pid_t pid() const noexcept {
    return pid_;
  }

  /// True while the process has not exited (reaps it when it has).
  bool running();

  /// The temporary directory owned by this harness.
  const std::string& temp_dir() const noexcept {
    return temp_dir_;
  }

  /// The node's data directory.
  const std::string& data_dir() const noexcept {
    return opts_.data_dir;
  }

  /// The file that receives the node's stderr and stdout (appended to across
  /// restarts).
  std::string log_path() const;

  /// The whole log so far.
  std::string log() const;

  /// The last `max_bytes` of the log, for failure messages.
  std::string log_tail(size_t max_bytes = 4000) const;

  /// The options the node runs (or will be restarted) with; change
  /// `extra_args` here before `restart` to restart with other flags.
  node_options& options() noexcept {
    return opts_;
  }

  /// Sends SIGTERM and waits up to `stop_timeout` for the exit. Returns the
  /// exit code (128 + signal number when killed by a signal), or nothing when
  /// it had to be killed with SIGKILL after the timeout. Returns 0 if the node
  /// was not running.
  std::optional<int> stop();

  /// Kills the node with SIGKILL and reaps it.
  void kill9();

  /// Freezes the running node with SIGSTOP: it keeps its sockets and files
  /// but answers nothing, like a node that hangs or is partitioned away.
  /// `stop` and the destructor send SIGCONT first.
  void suspend();

  /// Lets a node frozen by `suspend` run again (SIGCONT).
  void resume();

  /// True between `suspend` and `resume` (or the process's end).
  bool suspended() const noexcept {
    return suspended_;
  }

  /// Stops the node if it runs (SIGTERM) and starts it again on the same data
  /// directory. The port may change. Throws like the constructor.
  void restart();

  /// Starts the node if it is not running (after stop or kill9).
  void start();

  /// Starts the process and returns at once, without waiting for its
  /// listening lines: for nodes that serve only once other nodes run
  /// (a cluster started from one identical seed list). `port()` and
  /// `cluster_port()` are 0 until `wait_listening`. Throws std::logic_error
  /// when the node runs already, std::runtime_error when fork fails.
  void launch();

  /// Waits for the listening lines of the process `launch` started (up to
  /// `start_timeout`) and takes its ports. Throws std::runtime_error, with
  /// the log tail, when the node exits or the time runs out (the node is
  /// then killed).
  void wait_listening();

  /// Connects a new client to the node. Throws std::runtime_error on failure.
  gateway::json_client connect(int timeout_ms = 5000) const;

  /// Exit status of the last process that ended: the exit code, or 128 +
  /// signal number. Nothing while no process has ended.
  std::optional<int> last_exit_status() const noexcept {
    return last_exit_;
  }

private:
  void spawn();
  bool wait_exit(std::chrono::milliseconds timeout);

  node_options opts_;
  std::string temp_dir_;
  pid_t pid_ = -1;
  uint16_t port_ = 0;
  uint16_t api_port_ = 0;
  size_t log_offset_ = 0; // where the running process's log starts
  uint16_t cluster_port_ = 0;
  bool suspended_ = false;
  std::optional<int> last_exit_;
};

/// Removes a directory tree; ignores errors.
void remove_tree(const std::string& path);

/// True when `path` exists and is a directory.
bool is_directory(const std::string& path);

} // namespace cxesdb::tests
