#include "tests/integration/node_process.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <sched.h>
#include <sstream>
#include <stdexcept>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace cxesdb::tests {

namespace {

using clock_type = std::chrono::steady_clock;

constexpr const char* listening_marker = "listening for clients on ";
constexpr const char* api_marker = "listening for api on ";

constexpr const char* peers_marker = "listening for peers on ";

std::string read_file_from(const std::string& path, size_t offset) {
  std::ifstream in{path, std::ios::binary};
  if (!in)
    return {};
  in.seekg(0, std::ios::end);
  auto size = static_cast<size_t>(in.tellg());
  if (offset >= size)
    return {};
  in.seekg(static_cast<std::streamoff>(offset));
  std::string out(size - offset, '\0');
  in.read(out.data(), static_cast<std::streamsize>(out.size()));
  out.resize(static_cast<size_t>(in.gcount()));
  return out;
}

size_t file_size(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    return 0;
  return static_cast<size_t>(st.st_size);
}

/// Parses the port of the first complete line in `text` that contains
/// `marker` (a listening line).
std::optional<uint16_t>
parse_listening_port(const std::string& text,
                     const char* marker = listening_marker) {
  auto pos = text.find(marker);
  if (pos == std::string::npos)
    return std::nullopt;
  auto eol = text.find('\n', pos);
  if (eol == std::string::npos)
    return std::nullopt; // the line is not complete yet
  auto line = text.substr(pos + std::strlen(marker),
                          eol - pos - std::strlen(marker));
  // HOST:PORT, possibly followed by more text; the port follows the last ':'
  // of the first word (IPv6 hosts contain ':' too).
  auto word_end = line.find_first_of(" \t\r");
  auto word = line.substr(0, word_end);
  auto colon = word.rfind(':');
  if (colon == std::string::npos)
    return std::nullopt;
  unsigned long port = 0;
  size_t digits = 0;
  for (auto i = colon + 1; i < word.size() && std::isdigit(word[i]); ++i) {
    port = port * 10 + static_cast<unsigned long>(word[i] - '0');
    ++digits;
  }
  if (digits == 0 || port == 0 || port > 65535)
    return std::nullopt;
  return static_cast<uint16_t>(port);
}

int decode_status(int status) {
  if (WIFEXITED(status))
    return WEXITSTATUS(status);
  if (WIFSIGNALED(status))
    return 128 + WTERMSIG(status);
  return -1;
}

} // namespace

void remove_tree(const std::string& path) {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
}

bool is_directory(const std::string& path) {
  std::error_code ec;
  return std::filesystem::is_directory(path, ec);
}

node_process::node_process(node_options opts) : opts_(std::move(opts)) {
  if (opts_.binary.empty()) {
    if (auto env = std::getenv("CXESDB_NODE"))
      opts_.binary = env;
    else
      throw std::runtime_error("node_process: CXESDB_NODE is not set");
  }
  std::string base = "/tmp";
  if (auto tmp = std::getenv("TMPDIR"); tmp != nullptr && *tmp != '\0')
    base = tmp;
  std::string templ = base + "/cxesdb-it-XXXXXX";
  if (::mkdtemp(templ.data()) == nullptr)
    throw std::runtime_error("node_process: mkdtemp failed: "
                             + std::string{std::strerror(errno)});
  temp_dir_ = templ;
  if (opts_.data_dir.empty())
    opts_.data_dir = temp_dir_ + "/data";
  try {
    if (opts_.start_now)
      spawn();
  } catch (...) {
    if (pid_ > 0)
      kill9();
    if (std::getenv("CXESDB_KEEP_TMP") == nullptr)
      remove_tree(temp_dir_);
    throw;
  }
}

node_process::~node_process() {
  resume();
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    if (!wait_exit(std::chrono::seconds{5}))
      kill9();
  }
  if (std::getenv("CXESDB_KEEP_TMP") == nullptr)
    remove_tree(temp_dir_);
}

std::string node_process::host() const {
  return opts_.bind == "0.0.0.0" ? std::string{"127.0.0.1"} : opts_.bind;
}

std::string node_process::cluster_address() const {
  if (cluster_port_ == 0)
    return {};
  return host() + ":" + std::to_string(cluster_port_);
}

std::string node_process::log_path() const {
  return temp_dir_ + "/node.log";
}

std::string node_process::log() const {
  return read_file_from(log_path(), 0);
}

std::string node_process::log_tail(size_t max_bytes) const {
  auto size = file_size(log_path());
  return read_file_from(log_path(), size > max_bytes ? size - max_bytes : 0);
}

bool node_process::running() {
  if (pid_ <= 0)
    return false;
  int status = 0;
  auto rc = ::waitpid(pid_, &status, WNOHANG);
  if (rc == pid_) {
    last_exit_ = decode_status(status);
    pid_ = -1;
    port_ = 0;
    api_port_ = 0;
    cluster_port_ = 0;
    suspended_ = false;
    return false;
  }
  return true;
}

bool node_process::wait_exit(std::chrono::milliseconds timeout) {
  auto deadline = clock_type::now() + timeout;
  for (;;) {
    if (!running())
      return true;
    if (clock_type::now() >= deadline)
      return false;
    std::this_thread::sleep_for(std::chrono::milliseconds{10});
  }
}

std::optional<int> node_process::stop() {
  if (!running())
    return 0;
  resume(); // a frozen process would not see SIGTERM before SIGCONT
  ::kill(pid_, SIGTERM);
  if (wait_exit(opts_.stop_timeout))
    return last_exit_;
  kill9();
  return std::nullopt;
}

void node_process::kill9() {
  if (pid_ <= 0)
    return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    // retry
  }
  last_exit_ = decode_status(status);
  pid_ = -1;
  port_ = 0;
  api_port_ = 0;
  cluster_port_ = 0;
  suspended_ = false;
}

void node_process::suspend() {
  if (pid_ <= 0 || suspended_)
    return;
  ::kill(pid_, SIGSTOP);
  suspended_ = true;
}

void node_process::resume() {
  if (pid_ <= 0 || !suspended_)
    return;
  ::kill(pid_, SIGCONT);
  suspended_ = false;
}

void node_process::restart() {
  if (running()) {
    if (!stop())
      throw std::runtime_error("node_process: node did not stop on SIGTERM;"
                               " log tail:\n"
                               + log_tail());
  }
  spawn();
}

void node_process::start() {
  if (!running())
    spawn();
}

uint16_t node_process::api_port() {
  if (api_port_ != 0)
    return api_port_;
  auto deadline = clock_type::now() + opts_.start_timeout;
  for (;;) {
    if (auto port = parse_listening_port(read_file_from(log_path(),
                                                        log_offset_),
                                         api_marker)) {
      api_port_ = *port;
      return api_port_;
    }
    if (!running() || clock_type::now() >= deadline)
      throw std::runtime_error("node_process: no line 'listening for api on'"
                               "; log tail:\n"
                               + log_tail());
    std::this_thread::sleep_for(std::chrono::milliseconds{10});
  }
}

gateway::json_client node_process::connect(int timeout_ms) const {
  gateway::json_client client;
  if (auto err = client.connect(host(), port_, timeout_ms))
    throw std::runtime_error("node_process: " + *err);
  return client;
}

void node_process::spawn() {
  launch();
  wait_listening();
}

void node_process::launch() {
  if (pid_ > 0 && running())
    throw std::logic_error("node_process: launch: the node runs already");
  // Everything the child needs is prepared before fork: after fork only
  // async-signal-safe calls are allowed in a multi-threaded parent.
  std::vector<std::string> args{opts_.binary,
                                "--data-dir",
                                opts_.data_dir,
                                "--bind",
                                opts_.bind,
                                "--client-port",
                                std::to_string(opts_.client_port)};
  if (!opts_.node_name.empty()) {
    args.emplace_back("--node-name");
    args.emplace_back(opts_.node_name);
  }
  if (opts_.cluster_port) {
    args.emplace_back("--cluster-port");
    args.emplace_back(std::to_string(*opts_.cluster_port));
  }
  if (!opts_.seeds.empty()) {
    std::string seeds;
    for (auto& seed : opts_.seeds)
      seeds += (seeds.empty() ? "" : ",") + seed;
    args.emplace_back("--seeds");
    args.emplace_back(std::move(seeds));
  }
  args.insert(args.end(), opts_.extra_args.begin(), opts_.extra_args.end());
  if (std::find(args.begin(), args.end(), "--api-port") == args.end()) {
    args.emplace_back("--api-port");
    args.emplace_back(std::to_string(opts_.api_port));
  }
  // HTTP (/metrics, /health) on a free port unless the test names one, so
  // that nodes never fight over the default.
  if (std::find(args.begin(), args.end(), "--http-port") == args.end()) {
    args.emplace_back("--http-port");
    args.emplace_back("0");
  }
  // Every node has a cluster port; one that takes no peers gets a free one,
  // so that nodes of different tests never fight over the default.
  if (!opts_.cluster_port
      && std::find(args.begin(), args.end(), "--cluster-port") == args.end()) {
    args.emplace_back("--cluster-port");
    args.emplace_back("0");
  }
  std::vector<char*> argv;
  for (auto& arg : args)
    argv.push_back(arg.data());
  argv.push_back(nullptr);
  auto log_file = log_path();
  int log_fd = ::open(log_file.c_str(),
                      O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0)
    throw std::runtime_error("node_process: cannot open " + log_file);
  int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  int netns_fd = -1;
  if (!opts_.netns.empty()) {
    auto path = "/run/netns/" + opts_.netns;
    netns_fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (netns_fd < 0) {
      ::close(log_fd);
      if (null_fd >= 0)
        ::close(null_fd);
      throw std::runtime_error("node_process: cannot open " + path + ": "
                               + std::strerror(errno));
    }
  }
  auto log_offset = file_size(log_file);
  {
    std::string banner = "=== cxesdb test harness: starting";
    for (auto& arg : args)
      banner += " " + arg;
    banner += "\n";
    auto n = ::write(log_fd, banner.data(), banner.size());
    (void) n;
    log_offset += banner.size();
  }
  auto parent = ::getpid();
  auto pid = ::fork();
  if (pid < 0) {
    ::close(log_fd);
    if (null_fd >= 0)
      ::close(null_fd);
    if (netns_fd >= 0)
      ::close(netns_fd);
    throw std::runtime_error("node_process: fork failed");
  }
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent)
      ::_exit(127);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    if (null_fd >= 0)
      ::dup2(null_fd, 0);
    ::dup2(log_fd, 1);
    ::dup2(log_fd, 2);
    if (netns_fd >= 0 && ::setns(netns_fd, CLONE_NEWNET) != 0) {
      const char msg[] = "cxesdb test harness: setns failed\n";
      auto n = ::write(2, msg, sizeof(msg) - 1);
      (void) n;
      ::_exit(127);
    }
    ::execv(argv[0], argv.data());
    const char msg[] = "cxesdb test harness: execv failed\n";
    auto n = ::write(2, msg, sizeof(msg) - 1);
    (void) n;
    ::_exit(127);
  }
  ::close(log_fd);
  if (null_fd >= 0)
    ::close(null_fd);
  if (netns_fd >= 0)
    ::close(netns_fd);
  pid_ = pid;
  port_ = 0;
  api_port_ = 0;
  log_offset_ = log_offset;
  cluster_port_ = 0;
  suspended_ = false;
}

void node_process::wait_listening() {
  auto log_file = log_path();
  auto log_offset = log_offset_;
  auto deadline = clock_type::now() + opts_.start_timeout;
  for (;;) {
    auto text = read_file_from(log_file, log_offset);
    auto port = parse_listening_port(text);
    std::optional<uint16_t> peer_port;
    if (opts_.cluster_port)
      peer_port = parse_listening_port(text, peers_marker);
    if (port && (!opts_.cluster_port || peer_port)) {
      port_ = *port;
      if (peer_port) {
        cluster_port_ = *peer_port;
        opts_.cluster_port = *peer_port; // a restart binds the same port
      }
      return;
    }
    if (!running())
      throw std::runtime_error("node_process: node exited with status "
                               + std::to_string(last_exit_.value_or(-1))
                               + " before listening; log tail:\n"
                               + log_tail());
    if (clock_type::now() >= deadline) {
      kill9();
      throw std::runtime_error(std::string{"node_process: no "}
                               + (port ? "'listening for peers'"
                                       : "'listening for clients'")
                               + " line after "
                               + std::to_string(opts_.start_timeout.count())
                               + " ms; log tail:\n" + log_tail());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{10});
  }
}

} // namespace cxesdb::tests
