// Integration test of cxesdb-shell against a real cxesdb-node: starts a node
// in a temporary directory, runs the shell one-shot and with commands from
// a pipe, and checks outputs and exit codes.
//
// Paths come from meson: CXESDB_NODE (the node) and CXESDB_SHELL (the
// shell).

#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <netinet/in.h>
#include <optional>
#include <sstream>
#include <string>
#include <sys/socket.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include <nlohmann/json.hpp>

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

/// How long the node may take to print its "listening" line.
constexpr auto node_start_timeout = 60s;

/// How long the node may take to exit after SIGTERM before SIGKILL.
constexpr auto node_stop_timeout = 15s;

/// How long one shell run may take before the test kills it.
constexpr auto shell_run_timeout = 30s;

constexpr const char* listening_marker = "listening for clients on 127.0.0.1:";

std::string env_or_fail(const char* name) {
  auto val = std::getenv(name);
  REQUIRE_MESSAGE(val != nullptr, name << " is not set (run through meson)");
  return val;
}

std::string slurp(const fs::path& path) {
  std::ifstream in{path, std::ios::binary};
  std::ostringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

/// Waits for `pid` until `timeout`; nothing if it still runs.
std::optional<int> wait_for(pid_t pid, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    auto rc = waitpid(pid, &status, WNOHANG);
    if (rc == pid)
      return status;
    if (std::chrono::steady_clock::now() >= deadline)
      return std::nullopt;
    std::this_thread::sleep_for(10ms);
  }
}

/// A temporary directory, removed with everything in it.
struct temp_dir {
  fs::path path;

  temp_dir() {
    std::string tmpl = (fs::temp_directory_path() / "cxesdb-shell-test-XXXXXX")
                         .string();
    REQUIRE(mkdtemp(tmpl.data()) != nullptr);
    path = tmpl;
  }

  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

/// A cxesdb-node process on 127.0.0.1 with a free client port, stopped with
/// SIGTERM.
class node_process {
public:
  /// Starts the node with `extra_args` after the standard flags.
  explicit node_process(std::vector<std::string> extra_args = {}) {
    auto exe = env_or_fail("CXESDB_NODE");
    auto data_dir = (dir_.path / "data").string();
    log_ = dir_.path / "node.log";
    fs::create_directories(data_dir);
    pid_ = fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      int fd = open(log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd < 0)
        _exit(127);
      dup2(fd, STDERR_FILENO);
      dup2(fd, STDOUT_FILENO);
      std::vector<std::string> args{exe,     "--data-dir",    data_dir,
                                    "--bind", "127.0.0.1",     "--client-port",
                                    "0"};
      args.insert(args.end(), extra_args.begin(), extra_args.end());
      std::vector<char*> argv;
      for (auto& arg : args)
        argv.push_back(arg.data());
      argv.push_back(nullptr);
      execv(exe.c_str(), argv.data());
      _exit(127);
    }
    auto deadline = std::chrono::steady_clock::now() + node_start_timeout;
    while (port_ == 0) {
      auto text = slurp(log_);
      if (auto pos = text.find(listening_marker); pos != std::string::npos) {
        auto digits = text.substr(pos + std::strlen(listening_marker));
        port_ = std::atoi(digits.c_str());
        if (port_ <= 0) {
          stop();
          FAIL("bad port in the node's log: " << text);
        }
        break;
      }
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        FAIL("the node exited during start-up; its log:\n" << text);
      }
      if (std::chrono::steady_clock::now() >= deadline) {
        stop(); // FAIL throws: the destructor will not run
        FAIL("the node did not start in time; its log:\n" << text);
      }
      std::this_thread::sleep_for(20ms);
    }
  }

  ~node_process() {
    stop();
  }

  /// Sends SIGTERM and waits; SIGKILL after node_stop_timeout.
  void stop() {
    if (pid_ <= 0)
      return;
    kill(pid_, SIGTERM);
    if (!wait_for(pid_, node_stop_timeout)) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    pid_ = -1;
  }

  int port() const noexcept {
    return port_;
  }

  std::string log() const {
    return slurp(log_);
  }

private:
  temp_dir dir_;
  fs::path log_;
  pid_t pid_ = -1;
  int port_ = 0;
};

/// The one node the test cases share (started on first use).
node_process& node() {
  static node_process instance;
  return instance;
}

/// The outcome of one shell run.
struct shell_result {
  int code = -1;
  std::string out;
  std::string err;
};

std::ostream& operator<<(std::ostream& out, const shell_result& res) {
  return out << "exit " << res.code << "\n--- stdout:\n"
             << res.out << "--- stderr:\n"
             << res.err;
}

/// Runs the shell with `args` and `input` on its stdin (a file, so not a
/// terminal).
shell_result run_shell(const std::vector<std::string>& args,
                       const std::string& input = {}) {
  static const auto exe = env_or_fail("CXESDB_SHELL");
  temp_dir io;
  auto in_path = io.path / "in", out_path = io.path / "out",
       err_path = io.path / "err";
  std::ofstream{in_path, std::ios::binary} << input;
  auto pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    int in = open(in_path.c_str(), O_RDONLY);
    int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (in < 0 || out < 0 || err < 0)
      _exit(127);
    dup2(in, STDIN_FILENO);
    dup2(out, STDOUT_FILENO);
    dup2(err, STDERR_FILENO);
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(exe.c_str()));
    for (auto& arg : args)
      argv.push_back(const_cast<char*>(arg.c_str()));
    argv.push_back(nullptr);
    execv(exe.c_str(), argv.data());
    _exit(127);
  }
  auto status = wait_for(pid, shell_run_timeout);
  if (!status) {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    FAIL("the shell did not finish in time");
  }
  shell_result res;
  res.code = WIFEXITED(*status) ? WEXITSTATUS(*status) : 128;
  res.out = slurp(out_path);
  res.err = slurp(err_path);
  return res;
}

/// Runs the shell against the shared node: `--port P` plus `args`.
shell_result shell(std::vector<std::string> args,
                   const std::string& input = {}) {
  args.insert(args.begin(), {"--port", std::to_string(node().port())});
  return run_shell(args, input);
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

/// A port on 127.0.0.1 that nothing listens on (bound, then released).
int unused_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  socklen_t len = sizeof(addr);
  REQUIRE(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  close(fd);
  return ntohs(addr.sin_port);
}

/// Creates the store `shelltest` with two events in stream s-1, once: the
/// test case below runs again for each of its subcases.
void prepare_shelltest() {
  static bool done = false;
  if (done)
    return;
  done = true;
  shell_result r;
  INFO("last shell run: " << r); // stringified lazily, on failure
  r = shell({"health"});
  CHECK(r.code == 0);
  CHECK(contains(r.out, "ok"));

  r = shell({"create-store", "shelltest", "--description", "shell test",
             "--tags", "a,b"});
  REQUIRE(r.code == 0);
  CHECK(contains(r.out, "shelltest"));
  CHECK(contains(r.out, "running"));

  r = shell({"stores"});
  CHECK(r.code == 0);
  CHECK(contains(r.out, "store"));
  CHECK(contains(r.out, "shelltest"));
  CHECK(contains(r.out, "shell test"));
  CHECK(contains(r.out, "a,b"));

  r = shell({"--store", "shelltest", "append", "s-1", "--type", "Created",
             R"({"n":1})"});
  CHECK(r.code == 0);
  CHECK(contains(r.out, "version"));

  r = shell({"--store", "shelltest", "append", "s-1", "--type", "Updated",
             "--expected", "0", R"({"n":2})"});
  CHECK(r.code == 0);
}

} // namespace

TEST_CASE("one-shot commands against a node") {
  prepare_shelltest();
  shell_result r;
  INFO("last shell run: " << r);

  SUBCASE("read prints pretty JSON events") {
    r = shell({"--store", "shelltest", "read", "s-1"});
    CHECK(r.code == 0);
    CHECK(contains(r.out, R"("event_type": "Created")"));
    CHECK(contains(r.out, R"("event_type": "Updated")"));
    CHECK(contains(r.out, R"("n": 2)"));
  }

  SUBCASE("version prints the last event number") {
    r = shell({"--store", "shelltest", "version", "s-1"});
    CHECK(r.code == 0);
    CHECK(r.out == "1\n");
  }

  SUBCASE("wrong expected version exits 1 with the current version") {
    r = shell({"--store", "shelltest", "append", "s-1", "--expected", "0",
               R"({"n":3})"});
    CHECK(r.code == 1);
    CHECK(contains(r.err, "error: wrong_expected_version: "));
    CHECK(contains(r.err, "current_version: 1"));
  }

  SUBCASE("--json prints one parsable line per command") {
    r = shell({"--json", "--store", "shelltest", "read", "s-1"});
    CHECK(r.code == 0);
    auto j = nlohmann::json::parse(r.out, nullptr, false);
    REQUIRE(j.is_object());
    REQUIRE(j["events"].size() == 2);
    CHECK(j["events"][1]["event_number"] == 1);
    CHECK(j["events"][1]["data"]["n"] == 2);
    CHECK(std::count(r.out.begin(), r.out.end(), '\n') == 1);
    r = shell({"--json", "--store", "shelltest", "version", "s-1"});
    CHECK(nlohmann::json::parse(r.out, nullptr, false)
          == nlohmann::json{{"version", 1}});
  }

  SUBCASE("append --file - appends an events array from stdin") {
    r = shell({"--store", "shelltest", "append", "s-2", "--expected",
               "no_stream", "--file", "-"},
              R"([{"event_type":"A","data":{"i":0}},
                  {"event_type":"B","data":{"i":1}}])");
    CHECK(r.code == 0);
    r = shell({"--json", "--store", "shelltest", "read", "s-2", "--backward",
               "--count", "1"});
    CHECK(r.code == 0);
    auto j = nlohmann::json::parse(r.out, nullptr, false);
    REQUIRE(j.is_object());
    REQUIRE(j["events"].size() == 1);
    CHECK(j["events"][0]["event_type"] == "B");
    CHECK(j["events"][0]["event_number"] == 1);
    r = shell({"--json", "--store", "shelltest", "streams"});
    CHECK(r.code == 0);
    j = nlohmann::json::parse(r.out, nullptr, false);
    REQUIRE(j.is_object());
    CHECK(j["streams"] == nlohmann::json{"s-1", "s-2"});
  }

  SUBCASE("a missing store exits 1 with not_found") {
    r = shell({"store-status", "nosuchstore"});
    CHECK(r.code == 1);
    CHECK(contains(r.err, "error: not_found: "));
  }

  SUBCASE("usage errors exit 64 with a usage line") {
    r = shell({"append"});
    CHECK(r.code == 64);
    CHECK(contains(r.err, "usage: append STREAM"));
    r = shell({"read", "s-1", "--count", "ten"});
    CHECK(r.code == 64);
    r = shell({"no-such-command"});
    CHECK(r.code == 64);
  }

  SUBCASE("raw sends any method") {
    r = shell({"--json", "raw", "get_version",
               R"({"store":"shelltest","stream":"s-1"})"});
    CHECK(r.code == 0);
    CHECK(nlohmann::json::parse(r.out, nullptr, false)
          == nlohmann::json{{"version", 1}});
    r = shell({"raw", "no_such_method"});
    CHECK(r.code == 1);
    CHECK(contains(r.err, "error: method_not_found: "));
  }
}

TEST_CASE("an interactive session reads commands from a pipe") {
  shell_result r;
  INFO("last shell run: " << r);
  r = shell({"create-store", "piped"});
  REQUIRE(r.code == 0);
  r = shell({},
            "use piped\n"
            "append p-1 {\"a\": \"b c\"} --type T\n"
            "\n"
            "# a comment\n"
            "version p-1\n"
            "append p-1 --expected no_stream {\"a\": 2}\n"
            "read p-1 --json\n"
            "quit\n"
            "health\n");
  // It went on after the failed append, and reports that failure.
  CHECK(r.code == 1);
  CHECK(contains(r.out, "using store piped"));
  CHECK(contains(r.out, "\n0\n"));
  CHECK(contains(r.err, "error: wrong_expected_version: "));
  CHECK(contains(r.out, R"({"events":[{)"));
  CHECK(contains(r.out, R"("data":{"a":"b c"})"));
  CHECK_FALSE(contains(r.out, "status: ok")); // after quit: not run
  r = shell({"--json", "--store", "piped", "version", "p-1"});
  CHECK(nlohmann::json::parse(r.out, nullptr, false)
        == nlohmann::json{{"version", 0}});
  r = shell({"remove-store", "piped"});
  CHECK(r.code == 0);
}

TEST_CASE("an unreachable node exits 2") {
  shell_result r;
  INFO("last shell run: " << r);
  r = run_shell({"--port", std::to_string(unused_port()), "health"});
  CHECK(r.code == 2);
  CHECK(contains(r.err, "error: connection_failed: "));
  r = run_shell({"--port", std::to_string(unused_port())}, "health\n");
  CHECK(r.code == 2);
}

TEST_CASE("a too_large answer (id null) comes back at once") {
  // The node answers an oversized message with id null; the shell must take
  // that as the answer instead of waiting out --timeout-ms.
  node_process small{{"--max-message-bytes", "1000"}};
  auto big = nlohmann::json::array(
    {{{"event_type", "T"}, {"data", std::string(2000, 'x')}}});
  shell_result r;
  INFO("last shell run: " << r);
  auto start = std::chrono::steady_clock::now();
  r = run_shell({"--port", std::to_string(small.port()), "--timeout-ms",
                      "20000", "append", "big", "--file", "-"},
                     big.dump());
  auto elapsed = std::chrono::steady_clock::now() - start;
  CHECK(r.code == 1);
  CHECK(contains(r.err, "error: too_large: "));
  CHECK(elapsed < 10s);
  r = run_shell({"--port", std::to_string(small.port()), "health"});
  CHECK(r.code == 0);
}
