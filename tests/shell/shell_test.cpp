// Integration test of cxesdb-shell against a real cxesdb-node: starts a node
// in a temporary directory, runs the shell one-shot and with commands from
// a pipe, and checks outputs and exit codes; `tail` also runs as a child
// process while the test appends.
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
                                    "0",      "--api-port",    "0", "--cluster-port", "0",
                                    "--http-port", "0"};
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

/// The one node the test cases share (started on first use), with a
/// config file that holds one store template, `tiny`.
node_process& node() {
  static temp_dir config_dir;
  static auto config = [] {
    auto path = config_dir.path / "node.json";
    std::ofstream{path} << R"({"store_templates": {"tiny": )"
                        << R"({"timeout_ms": 4321, "tags": ["tpl"]}}})";
    return path.string();
  }();
  static node_process instance{
    std::vector<std::string>{"--config", config}};
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

/// A shell process started with `start_shell`, its stdin, stdout and stderr
/// in files.
struct shell_child {
  pid_t pid = -1;
  temp_dir io;

  shell_child() = default;
  shell_child(const shell_child&) = delete;
  shell_child& operator=(const shell_child&) = delete;

  /// Kills a shell that a failed check left running.
  ~shell_child() {
    if (pid > 0) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
  }

  fs::path out_path() const {
    return io.path / "out";
  }

  fs::path err_path() const {
    return io.path / "err";
  }
};

/// Starts the shell with `args` and `input` on its stdin (a file, so not a
/// terminal).
void start_shell(shell_child& child, const std::vector<std::string>& args,
                 const std::string& input = {}) {
  static const auto exe = env_or_fail("CXESDB_SHELL");
  auto in_path = child.io.path / "in", out_path = child.out_path(),
       err_path = child.err_path();
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
  child.pid = pid;
}

/// Waits for a started shell (killing it after `timeout`) and collects its
/// outcome.
shell_result finish_shell(shell_child& child,
                          std::chrono::milliseconds timeout
                          = shell_run_timeout) {
  auto status = wait_for(child.pid, timeout);
  if (!status) {
    kill(child.pid, SIGKILL);
    waitpid(child.pid, nullptr, 0);
    child.pid = -1;
    FAIL("the shell did not finish in time; its stdout:\n"
         << slurp(child.out_path()) << "\nits stderr:\n"
         << slurp(child.err_path()));
  }
  child.pid = -1;
  shell_result res;
  res.code = WIFEXITED(*status) ? WEXITSTATUS(*status) : 128;
  res.out = slurp(child.out_path());
  res.err = slurp(child.err_path());
  return res;
}

/// Runs the shell with `args` and `input` on its stdin (a file, so not a
/// terminal).
shell_result run_shell(const std::vector<std::string>& args,
                       const std::string& input = {}) {
  shell_child child;
  start_shell(child, args, input);
  return finish_shell(child);
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

  SUBCASE("store-status shows the store's figures") {
    r = shell({"store-status", "shelltest"});
    CHECK(r.code == 0);
    CHECK(contains(r.out, "status"));
    CHECK(contains(r.out, "running"));
    CHECK(contains(r.out, "events"));
    CHECK(contains(r.out, "last_position"));
    CHECK(contains(r.out, "leader"));
  }

  SUBCASE("top prints a table of stores per refresh until --count") {
    r = shell({"top", "--count", "2", "--interval-ms", "100"});
    CHECK(r.code == 0);
    CHECK(contains(r.out, "appends/s"));
    CHECK(contains(r.out, "shelltest"));
    // Not a terminal: each refresh is a table of its own, no screen codes.
    CHECK(!contains(r.out, "\x1b["));
    r = shell({"--json", "top", "--count", "2", "--interval-ms", "100"});
    CHECK(r.code == 0);
    CHECK(std::count(r.out.begin(), r.out.end(), '\n') == 2);
    auto last = r.out.substr(r.out.find('\n') + 1);
    auto j = nlohmann::json::parse(last, nullptr, false);
    REQUIRE(j.is_object());
    bool found = false;
    for (auto& store : j["stores"])
      if (store["store"] == "shelltest") {
        found = true;
        CHECK(store["events"].get<int64_t>() >= 2);
        CHECK(store["appends_per_s"].is_number()); // the second refresh
      }
    CHECK(found);
    r = shell({"top", "--interval-ms", "5"});
    CHECK(r.code == 64);
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

TEST_CASE("stream lifecycle commands: delete-stream, truncate, stream-meta") {
  shell_result r;
  INFO("last shell run: " << r);
  r = shell({"create-store", "shelllife"});
  REQUIRE(r.code == 0);
  for (auto stream : {"gone", "gone", "cut", "cut", "cut", "hard"}) {
    r = shell({"--store", "shelllife", "append", stream, "{}"});
    REQUIRE(r.code == 0);
  }
  r = shell({"--store", "shelllife", "delete-stream", "gone", "--expected",
             "1"});
  CHECK(r.code == 0);
  CHECK(r.out == "deleted stream gone at version 1\n");
  r = shell({"--store", "shelllife", "version", "gone"});
  CHECK(r.out == "-1\n");
  r = shell({"--store", "shelllife", "delete-stream", "hard", "--hard"});
  CHECK(r.code == 0);
  CHECK(r.out == "hard deleted stream hard at version 0\n");
  r = shell({"--store", "shelllife", "read", "hard"});
  CHECK(r.code == 1);
  CHECK(contains(r.err, "error: stream_deleted: "));
  r = shell({"--store", "shelllife", "truncate", "cut", "2"});
  CHECK(r.code == 0);
  CHECK(r.out == "truncated stream cut: first readable event 2\n");
  r = shell({"--store", "shelllife", "truncate", "cut", "-1"});
  CHECK(r.code == 1);
  CHECK(contains(r.err, "error: invalid_params: "));
  r = shell({"--store", "shelllife", "stream-meta", "cut"});
  CHECK(r.code == 0);
  CHECK(r.out == "(no metadata)\n");
  r = shell({"--json", "--store", "shelllife", "stream-meta", "cut",
             "--max-count", "5", "--custom", R"({"team":"a"})"});
  CHECK(r.code == 0);
  CHECK(nlohmann::json::parse(r.out, nullptr, false)
        == nlohmann::json{
          {"metadata", {{"max_count", 5}, {"custom", {{"team", "a"}}}}}});
  r = shell({"--json", "--store", "shelllife", "stream-meta", "cut"});
  CHECK(nlohmann::json::parse(r.out, nullptr, false)["metadata"]["max_count"]
        == 5);
  r = shell({"--json", "--store", "shelllife", "stream-meta", "cut",
             "--clear"});
  CHECK(nlohmann::json::parse(r.out, nullptr, false)
        == nlohmann::json{{"metadata", nlohmann::json::object()}});
  r = shell({"--store", "shelllife", "stream-meta", "cut", "--max-count", "0"});
  CHECK(r.code == 1);
  CHECK(contains(r.err, "max_count"));
  r = shell({"--json", "--store", "shelllife", "streams"});
  CHECK(nlohmann::json::parse(r.out, nullptr, false)["streams"]
        == nlohmann::json{"cut"});
  // gone's two events, cut's first two; hard's is the store's last: it stays
  r = shell({"--store", "shelllife", "scavenge"});
  CHECK(r.code == 0);
  CHECK(contains(r.out, "removed 4 events, reclaimed "));
}

TEST_CASE("backup commands: backup, backups, restore; create-store "
          "--template") {
  shell_result r;
  INFO("last shell run: " << r);
  r = shell({"create-store", "shellbk"});
  REQUIRE(r.code == 0);
  for (int i = 0; i < 2; ++i) {
    r = shell({"--store", "shellbk", "append", "s", "{}"});
    REQUIRE(r.code == 0);
  }
  r = shell({"--store", "shellbk", "backup", "shellbk_1"});
  CHECK(r.code == 0);
  CHECK(contains(r.out, "backup shellbk_1 of store shellbk: "));
  CHECK(contains(r.out, " bytes, last position 1"));
  r = shell({"backups"});
  CHECK(r.code == 0);
  CHECK(contains(r.out, "last_position"));
  CHECK(contains(r.out, "shellbk_1"));
  r = shell({"--json", "backups"});
  auto listed = nlohmann::json::parse(r.out, nullptr, false);
  REQUIRE(listed.is_object());
  CHECK(listed["backups"].at(0)["name"] == "shellbk_1");
  CHECK(listed["backups"].at(0)["store"] == "shellbk");
  r = shell({"restore", "shellbk_1", "shellbk_copy"});
  CHECK(r.code == 0);
  CHECK(contains(r.out,
                 "restored backup shellbk_1 as store shellbk_copy (running)"));
  r = shell({"--json", "--store", "shellbk_copy", "read", "s"});
  CHECK(nlohmann::json::parse(r.out, nullptr, false)["events"].size() == 2);
  r = shell({"restore", "shellbk_1", "shellbk_copy"});
  CHECK(r.code == 1);
  CHECK(contains(r.err, "already_exists"));
  r = shell({"--store", "shellbk", "backup", "../x"});
  CHECK(r.code == 1);
  CHECK(contains(r.err, "name"));
  r = shell({"restore", "shellbk_1"});
  CHECK(r.code != 0);

  r = shell({"create-store", "shelltpl", "--template", "tiny", "--tags", "x"});
  CHECK(r.code == 0);
  r = shell({"--json", "store-config", "shelltpl"});
  auto config = nlohmann::json::parse(r.out, nullptr, false)["config"];
  CHECK(config["timeout_ms"] == 4321);
  CHECK(config["tags"] == nlohmann::json{"x"});
  r = shell({"create-store", "shellnotpl", "--template", "huge"});
  CHECK(r.code == 1);
  CHECK(contains(r.err, "template"));
  CHECK(contains(r.err, "tiny"));
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

namespace {

/// The args for the shared node: `--port P` plus `args`.
std::vector<std::string> node_args(std::vector<std::string> args) {
  args.insert(args.begin(), {"--port", std::to_string(node().port())});
  return args;
}

/// Waits until `store` lists a subscription of `type` with a subscriber
/// (a started `tail` has subscribed); false after the deadline.
bool wait_for_subscriber(const std::string& store, const std::string& type) {
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (std::chrono::steady_clock::now() < deadline) {
    auto r = shell({"--json", "--store", store, "subscriptions"});
    auto j = nlohmann::json::parse(r.out, nullptr, false);
    if (j.is_object() && j["subscriptions"].is_array())
      for (auto& sub : j["subscriptions"])
        if (sub.value("type", "") == type && sub.value("subscribers", 0) > 0)
          return true;
    std::this_thread::sleep_for(50ms);
  }
  return false;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> res;
  std::istringstream in{text};
  for (std::string line; std::getline(in, line);)
    res.push_back(line);
  return res;
}

} // namespace

TEST_CASE("tail prints a store's events") {
  shell_result r;
  INFO("last shell run: " << r);
  // A store per run: a failed run leaves no store behind for the next one.
  static int runs = 0;
  const std::string store = "tailing" + std::to_string(runs++);
  r = shell({"create-store", store});
  REQUIRE(r.code == 0);
  for (int i = 0; i < 3; ++i) {
    r = shell({"--store", store, "append", "t-1", "--type", "A",
               nlohmann::json{{"i", i}}.dump()});
    REQUIRE(r.code == 0);
  }

  SUBCASE("--from origin --count 3 --json catches up and stops") {
    r = shell({"--store", store, "tail", "--from", "origin", "--count",
               "3", "--json"});
    CHECK(r.code == 0);
    auto lines = lines_of(r.out);
    REQUIRE(lines.size() == 3);
    for (size_t i = 0; i < lines.size(); ++i) {
      auto j = nlohmann::json::parse(lines[i], nullptr, false);
      REQUIRE(j.is_object());
      CHECK(j["position"] == i);
      CHECK(j["data"]["i"] == i);
    }
    // STORE as a positional, pretty output.
    r = shell({"tail", store, "--from", "origin", "--count", "1"});
    CHECK(r.code == 0);
    CHECK(contains(r.out, R"("event_type": "A")"));
  }

  SUBCASE("--type gets only new events of that type") {
    shell_child child;
    start_shell(child, node_args({"--store", store, "tail", "--type", "X",
                                  "--count", "1", "--json"}));
    REQUIRE(wait_for_subscriber(store, "by_event_type"));
    r = shell({"--store", store, "append", "t-2", "--type", "Y",
               R"({"k":"y"})"});
    CHECK(r.code == 0);
    r = shell({"--store", store, "append", "t-2", "--type", "X",
               R"({"k":"x"})"});
    CHECK(r.code == 0);
    // Poll the output with a deadline, then collect the exit.
    auto deadline = std::chrono::steady_clock::now() + 20s;
    while (lines_of(slurp(child.out_path())).empty()
           && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(20ms);
    r = finish_shell(child, 10s);
    CHECK(r.code == 0);
    auto lines = lines_of(r.out);
    REQUIRE(lines.size() == 1);
    auto j = nlohmann::json::parse(lines[0], nullptr, false);
    REQUIRE(j.is_object());
    CHECK(j["event_type"] == "X");
    CHECK(j["data"]["k"] == "x");
    CHECK(j["stream_id"] == "t-2");
  }

  SUBCASE("Ctrl-C ends a tail with exit 0") {
    shell_child child;
    start_shell(child, node_args({"tail", store, "--stream", "t-9"}));
    REQUIRE(wait_for_subscriber(store, "by_stream"));
    kill(child.pid, SIGINT);
    r = finish_shell(child, 10s);
    CHECK(r.code == 0);
    CHECK(r.err.empty());
  }

  SUBCASE("a persistent tail acks, and a removed subscription exits 1") {
    r = shell({"--json", "tail", store, "--from", "origin", "--name",
               "audit", "--count", "2"});
    CHECK(r.code == 0);
    CHECK(lines_of(r.out).size() == 2);
    r = shell({"--json", "--store", store, "subscriptions"});
    auto j = nlohmann::json::parse(r.out, nullptr, false);
    REQUIRE(j.is_object());
    REQUIRE(j["subscriptions"].size() == 1);
    CHECK(j["subscriptions"][0]["checkpoint"] == 1);
    // It resumes after the checkpoint.
    r = shell({"--json", "tail", store, "--name", "audit", "--count",
               "1"});
    CHECK(r.code == 0);
    j = nlohmann::json::parse(r.out, nullptr, false);
    REQUIRE(j.is_object());
    CHECK(j["position"] == 2);

    shell_child child;
    start_shell(child, node_args({"tail", store, "--name", "audit"}));
    REQUIRE(wait_for_subscriber(store, "by_stream"));
    r = shell({"raw", "remove_subscription",
               nlohmann::json{{"store", store},
                              {"type", "by_stream"},
                              {"selector", "$all"},
                              {"name", "audit"}}
                 .dump()});
    CHECK(r.code == 0);
    r = finish_shell(child, 10s);
    CHECK(r.code == 1);
    CHECK(contains(r.err, "error: subscription dropped: removed"));
  }

  SUBCASE("tail in a piped session returns to the next command") {
    r = shell({}, "use " + store + "\n"
                  "tail --from origin --count 1 --json\n"
                  "version t-1\n");
    CHECK(r.code == 0);
    CHECK(contains(r.out, R"("position":0)"));
    CHECK(contains(r.out, "\n2\n"));
  }

  r = shell({"remove-store", store});
  CHECK(r.code == 0);
}
