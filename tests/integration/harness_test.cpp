// Tests of the integration harness itself (node_process), with small shell
// scripts standing in for the node: it must find the port, report a node that
// does not come up, stop and kill cleanly, and leave nothing behind.

#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <csignal>
#include <fstream>
#include <stdexcept>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

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
  opts.start_timeout = std::chrono::milliseconds{300};
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
