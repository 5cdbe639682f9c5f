#pragma once

// Helpers of the security suite: waiting for a node's log line, running a
// node that is expected to refuse to start. Include after doctest.

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include "tests/integration/node_process.hpp"

namespace cxesdb::tests {

/// How often `needle` occurs in `text`.
inline size_t count(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (auto i = text.find(needle); i != std::string::npos;
       i = text.find(needle, i + needle.size()))
    ++n;
  return n;
}

/// Waits until the node's log holds `needle` at least `times` times; fails
/// the test case (with the log's tail) when it does not within a generous
/// minute (a condition awaited, not a timing asserted).
inline void wait_for_log(node_process& node, const std::string& needle,
                         size_t times = 1) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes{1};
  while (count(node.log(), needle) < times) {
    if (std::chrono::steady_clock::now() > deadline)
      FAIL("the node never logged '" << needle << "'; log tail:\n"
                                     << node.log_tail());
    std::this_thread::sleep_for(std::chrono::milliseconds{20});
  }
}

/// A plain TCP connection to 127.0.0.1:`port` (for bytes that are not the
/// protocol the port speaks); the caller closes it.
inline int raw_connect(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0);
  return fd;
}

/// What a node that ended by itself printed, and its exit status.
struct node_run {
  int status = -1; ///< exit code, 128 + signal, -1 when it had to be killed
  std::string output;
};

/// Runs the node binary (CXESDB_NODE) with `args` and waits for it to exit
/// on its own, for a node that must refuse to start. A node still running
/// after a minute is killed (status -1).
inline node_run run_node_to_exit(const std::vector<std::string>& args) {
  node_run r;
  auto bin = std::getenv("CXESDB_NODE");
  REQUIRE(bin != nullptr);
  int fds[2];
  REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
  auto pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::dup2(fds[1], 1);
    ::dup2(fds[1], 2);
    std::vector<char*> argv;
    argv.push_back(bin);
    for (auto& a : args)
      argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(bin, argv.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes{1};
  char buf[4096];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                  deadline - std::chrono::steady_clock::now())
                  .count();
    if (left <= 0) {
      ::kill(pid, SIGKILL);
      break;
    }
    pollfd p{fds[0], POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) <= 0)
      continue;
    auto n = ::read(fds[0], buf, sizeof(buf));
    if (n <= 0)
      break;
    r.output.append(buf, static_cast<size_t>(n));
  }
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (WIFEXITED(status))
    r.status = WEXITSTATUS(status);
  else if (WIFSIGNALED(status) && WTERMSIG(status) != SIGKILL)
    r.status = 128 + WTERMSIG(status);
  return r;
}

} // namespace cxesdb::tests
