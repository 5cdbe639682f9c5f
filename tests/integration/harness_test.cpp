// Tests of the integration harness itself (node_process, the cluster
// fixture, read_replica), with small shell scripts standing in for the node:
// it must find the ports, pass the flags, report a node that does not come
// up, stop and kill cleanly, and leave nothing behind.

#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

#include <sqlite3.h>

#include "tests/integration/cluster.hpp"
#include "tests/integration/node_process.hpp"

using namespace cxesdb::tests;

namespace {

/// A shell script in a temp dir that lives as long as this object.
class fake_node {
public:
  explicit fake_node(const std::string& body) {
    std::string templ = "/tmp/cxesdb-fake-XXXXXX";
    REQUIRE(::mkdtemp(templ.data()) != nullptr);
    dir_ = templ;
    path_ = dir_ + "/fake-node";
    std::ofstream out{path_};
    out << "#!/bin/sh\n" << body << "\n";
    out.close();
    ::chmod(path_.c_str(), 0755);
  }

  ~fake_node() {
    remove_tree(dir_);
  }

  const std::string& path() const {
    return path_;
  }

  node_options options() const {
    node_options opts;
    opts.binary = path_;
    opts.start_timeout = std::chrono::milliseconds{3000};
    opts.stop_timeout = std::chrono::milliseconds{3000};
    return opts;
  }

private:
  std::string dir_;
  std::string path_;
};

bool process_exists(pid_t pid) {
  return ::kill(pid, 0) == 0;
}

/// A fake node that prints its arguments, then both listening lines: the
/// ports it was given, or ones made from its pid for port 0.
const char* const fake_cluster_node
  = "echo \"args: $*\" >&2\n"
    "client=0; peer=0\n"
    "while [ $# -gt 0 ]; do\n"
    "  case \"$1\" in\n"
    "    --client-port) client=$2; shift ;;\n"
    "    --cluster-port) peer=$2; shift ;;\n"
    "  esac\n"
    "  shift\n"
    "done\n"
    "[ \"$client\" = 0 ] && client=$((20000 + $$ % 20000))\n"
    "[ \"$peer\" = 0 ] && peer=$((40000 + $$ % 20000))\n"
    "echo \"listening for peers on 127.0.0.1:$peer\" >&2\n"
    "echo \"node: listening for clients on 127.0.0.1:$client\" >&2\n"
    "exec sleep 60";

/// The arguments of the last start in a fake node's log.
std::string last_args(const node_process& node) {
  auto log = node.log();
  auto pos = log.rfind("args: ");
  REQUIRE(pos != std::string::npos);
  return log.substr(pos + 6, log.find('\n', pos) - pos - 6);
}

/// Writes an events table with the given rows (position, stream, number,
/// id) into a new SQLite file at `path`.
void write_events_db(const std::string& path,
                     const std::vector<replica_row>& rows) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  std::string sql = "PRAGMA journal_mode=WAL;"
                    "CREATE TABLE events(position INTEGER PRIMARY KEY,"
                    " stream_id TEXT, event_number INTEGER, event_id TEXT);";
  for (auto& r : rows)
    sql += "INSERT INTO events VALUES(" + std::to_string(r.position) + ",'"
           + r.stream_id + "'," + std::to_string(r.event_number) + ",'"
           + r.event_id + "');";
  REQUIRE(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr)
          == SQLITE_OK);
  sqlite3_close(db);
}

} // namespace

TEST_CASE("the harness parses the port and passes the flags") {
  fake_node fake{"echo \"args: $*\" >&2\n"
                 "echo 'some other line' >&2\n"
                 "echo 'node1: listening for clients on 127.0.0.1:45678' >&2\n"
                 "exec sleep 60"};
  auto opts = fake.options();
  opts.node_name = "n7";
  opts.extra_args = {"--max-message-bytes", "4096"};
  std::string temp_dir;
  pid_t pid = -1;
  {
    node_process node{opts};
    temp_dir = node.temp_dir();
    pid = node.pid();
    CHECK(node.port() == 45678);
    CHECK(node.running());
    CHECK(node.data_dir() == temp_dir + "/data");
    auto log = node.log();
    CHECK(log.find("args: --data-dir " + temp_dir
                   + "/data --bind 127.0.0.1 --client-port 0 --node-name n7"
                     " --max-message-bytes 4096")
          != std::string::npos);
    // SIGTERM ends `sleep` by the signal: 128 + 15.
    CHECK(node.stop() == 128 + SIGTERM);
    CHECK(!node.running());
    CHECK(node.port() == 0);
    // Restart on the same data dir; the log keeps the first run.
    node.restart();
    CHECK(node.port() == 45678);
    CHECK(node.running());
    node.kill9();
    CHECK(node.last_exit_status() == 128 + SIGKILL);
    node.start();
    pid = node.pid();
    CHECK(process_exists(pid));
  }
  // The destructor stopped the process and removed the temp dir.
  CHECK(!process_exists(pid));
  CHECK(!is_directory(temp_dir));
}

TEST_CASE("a node that exits before listening is reported with its log") {
  fake_node fake{"echo 'cannot open data dir' >&2\nexit 3"};
  try {
    node_process node{fake.options()};
    FAIL("no exception");
  } catch (const std::runtime_error& ex) {
    std::string what = ex.what();
    CHECK(what.find("status 3") != std::string::npos);
    CHECK(what.find("cannot open data dir") != std::string::npos);
  }
}

TEST_CASE("a node that never listens is killed after the start timeout") {
  fake_node fake{"echo $$ > \"$2.pid\"\nexec sleep 60"};
  auto opts = fake.options();
  // Long enough for the script to write its pid on a loaded machine (with
  // 300 ms it sometimes was killed before that, and the test failed).
  opts.start_timeout = std::chrono::milliseconds{2000};
  std::string data_dir = "/tmp/cxesdb-fake-data-" + std::to_string(::getpid());
  opts.data_dir = data_dir;
  CHECK_THROWS_AS(node_process{opts}, std::runtime_error);
  std::ifstream in{data_dir + ".pid"};
  pid_t pid = -1;
  in >> pid;
  REQUIRE(pid > 0);
  CHECK(!process_exists(pid));
  ::unlink((data_dir + ".pid").c_str());
}

TEST_CASE("a missing binary is reported") {
  node_options opts;
  opts.binary = "/nonexistent/cxesdb-node";
  CHECK_THROWS_AS(node_process{opts}, std::runtime_error);
}

TEST_CASE("a node that ignores SIGTERM is killed by stop after the timeout") {
  fake_node fake{"trap '' TERM\n"
                 "echo 'listening for clients on 127.0.0.1:1234' >&2\n"
                 "while :; do sleep 0.05; done"};
  auto opts = fake.options();
  opts.stop_timeout = std::chrono::milliseconds{300};
  node_process node{opts};
  CHECK(node.port() == 1234);
  CHECK(!node.stop().has_value());
  CHECK(!node.running());
}

TEST_CASE("the harness passes the cluster flags and pins the cluster port") {
  fake_node fake{fake_cluster_node};
  auto opts = fake.options();
  opts.node_name = "node2";
  opts.cluster_port = 0;
  opts.seeds = {"127.0.0.1:1001", "127.0.0.1:1002"};
  node_process node{opts};
  auto peer = node.cluster_port();
  CHECK(peer >= 40000);
  CHECK(node.cluster_address() == "127.0.0.1:" + std::to_string(peer));
  CHECK(last_args(node).find("--node-name node2 --cluster-port 0 --seeds "
                             "127.0.0.1:1001,127.0.0.1:1002")
        != std::string::npos);
  // The restart asks for the port the node reported.
  node.restart();
  CHECK(node.cluster_port() == peer);
  CHECK(last_args(node).find("--cluster-port " + std::to_string(peer))
        != std::string::npos);
  // Without cluster_port, a free port is asked for and no peer line is
  // needed.
  auto plain = fake.options();
  node_process single{plain};
  CHECK(single.cluster_port() == 0);
  CHECK(last_args(single).find("--cluster-port 0") != std::string::npos);
  CHECK(last_args(single).find("--seeds") == std::string::npos);
}

TEST_CASE("suspend freezes the process and stop still ends it") {
  fake_node fake{fake_cluster_node};
  node_process node{fake.options()};
  node.suspend();
  CHECK(node.suspended());
  CHECK(node.running());
  // SIGTERM alone would stay pending on a stopped process; stop resumes it.
  CHECK(node.stop() == 128 + SIGTERM);
  CHECK(!node.suspended());
}

TEST_CASE("the cluster fixture names, seeds and restarts its nodes") {
  fake_node fake{fake_cluster_node};
  cluster_options opts;
  opts.binary = fake.path();
  opts.nodes = 3;
  opts.start_timeout = std::chrono::milliseconds{3000};
  opts.stop_timeout = std::chrono::milliseconds{3000};
  cluster c{opts};
  REQUIRE(c.size() == 3);
  CHECK(cluster::name(2) == "node2");
  CHECK(c.index_of("node3") == 3);
  CHECK(!c.index_of("node9"));
  auto addr = [&](size_t i) { return c.node(i).cluster_address(); };
  CHECK(last_args(c.node(1)).find("--seeds") == std::string::npos);
  CHECK(last_args(c.node(2)).find("--node-name node2 --cluster-port 0 --seeds "
                                  + addr(1))
        != std::string::npos);
  CHECK(last_args(c.node(3)).find("--seeds " + addr(1) + "," + addr(2))
        != std::string::npos);
  // A restart keeps both ports and seeds the node with all the others.
  auto client_port = c.node(1).port();
  auto peer_port = c.node(1).cluster_port();
  c.kill(1);
  CHECK(!c.alive(1));
  CHECK(c.client_ports()[0] == 0);
  c.restart(1);
  CHECK(c.node(1).port() == client_port);
  CHECK(c.node(1).cluster_port() == peer_port);
  CHECK(last_args(c.node(1)).find("--client-port " + std::to_string(client_port)
                                  + " --node-name node1 --cluster-port "
                                  + std::to_string(peer_port) + " --seeds "
                                  + addr(2) + "," + addr(3))
        != std::string::npos);
  c.stop(2);
  CHECK(!c.alive(2));
  CHECK(c.alive_nodes() == std::vector<size_t>{1, 3});
  c.cont(2);
  CHECK(c.alive(2));
  auto four = c.add_node();
  CHECK(four == 4);
  CHECK(last_args(c.node(4)).find("--node-name node4 --cluster-port 0 --seeds "
                                  + addr(1) + "," + addr(2) + "," + addr(3))
        != std::string::npos);
  CHECK(c.describe().find("node4: pid") != std::string::npos);
  // A fake node answers no cluster_status.
  CHECK(!c.try_status(1, 200));
  CHECK_THROWS_AS(c.node(5), std::logic_error);
}

TEST_CASE("read_replica reads a stopped node's events in position order") {
  fake_node fake{fake_cluster_node};
  cluster_options opts;
  opts.binary = fake.path();
  opts.nodes = 1;
  cluster c{opts};
  CHECK(!c.has_replica(1, "orders"));
  std::filesystem::create_directories(c.node(1).data_dir() + "/orders");
  write_events_db(c.replica_path(1, "orders"),
                  {{1, "b", 0, "e1"}, {0, "a", 0, "e0"}, {2, "a", 1, "e2"}});
  CHECK(c.has_replica(1, "orders"));
  // Not while the node runs ...
  CHECK_THROWS_AS(c.read_replica(1, "orders"), std::logic_error);
  // ... but while it is frozen or after it ended.
  c.stop(1);
  auto rows = c.read_replica(1, "orders");
  CHECK(rows == std::vector<replica_row>{{0, "a", 0, "e0"},
                                         {1, "b", 0, "e1"},
                                         {2, "a", 1, "e2"}});
  c.cont(1);
  c.kill(1);
  auto state = c.replica(1, "orders", true);
  CHECK(state.name == "node1");
  CHECK(state.may_lag);
  CHECK(state.rows.size() == 3);
  CHECK(c.wait_replicas_agree("orders", {1}, 3, std::chrono::seconds{1}));
  CHECK(!c.wait_replicas_agree("orders", {1}, 4,
                               std::chrono::milliseconds{300}));
  CHECK_THROWS_AS(c.read_replica(1, "missing"), std::runtime_error);
}

TEST_CASE("wait_until polls until the predicate holds or the time is up") {
  int calls = 0;
  CHECK(wait_until([&] { return ++calls == 3; }, std::chrono::seconds{5},
                   std::chrono::milliseconds{1}));
  CHECK(calls == 3);
  CHECK(!wait_until([] { return false; }, std::chrono::milliseconds{20},
                    std::chrono::milliseconds{5}));
}
