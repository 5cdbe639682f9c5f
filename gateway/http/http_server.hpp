#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "gateway/http/request_figures.hpp"
#include "gateway/http/store_figures.hpp"

namespace cxesdb::gateway::http {

/// Where the node is in its life, as `GET /health` and `GET /ready` report
/// it. The node's main thread moves it forward; a watcher of the store
/// manager marks it lost. Thread-safe (one atomic).
class node_health {
public:
  enum class phase : int {
    /// Replicas are loading; the node does not serve yet (503).
    starting,
    /// Every replica loaded, the client port listens (200).
    serving,
    /// SIGTERM arrived: the node stops (503).
    stopping,
    /// The store manager is gone: the node cannot serve (503).
    lost,
  };

  void set(phase p) noexcept {
    phase_.store(static_cast<int>(p));
  }

  phase get() const noexcept {
    return static_cast<phase>(phase_.load());
  }

private:
  std::atomic<int> phase_{static_cast<int>(phase::starting)};
};

/// "starting", "ok", "stopping" or "unavailable".
const char* to_status(node_health::phase p);

/// How to start the HTTP server.
struct http_config {
  /// Address to bind (the node's --bind).
  std::string bind = "127.0.0.1";
  /// Port; 0 picks a free one.
  uint16_t port = 7414;
  /// The node's name, in /health's answer.
  std::string node_name;
  /// Threads answering requests (civetweb's workers).
  size_t threads = 2;
};

/// Figures the HTTP server cannot read itself, asked for on each scrape of
/// /metrics from its threads (never a CAF scheduler thread).
struct metric_sources {
  /// Open client connections.
  std::function<int64_t()> connections;
  /// Requests answered, by method and by error reason.
  std::function<request_figures()> requests;
  /// The figures of every client store's replica on the node.
  std::function<std::vector<store_figures>()> stores;
};

/// The node's HTTP/1.1 server (protocol.md section 11): `GET /metrics`
/// (Prometheus text format 0.0.4, through prometheus-cpp's registry,
/// serializer and pull exposer, which runs civetweb), `GET /health` and
/// `GET /ready` (JSON, 200 or 503). Its own threads, not CAF's. One per
/// process.
class http_server {
public:
  /// Binds and starts serving. Returns nothing and says why in `err` when
  /// the address cannot be bound (or a server already runs).
  static std::unique_ptr<http_server>
  start(const http_config& cfg, std::shared_ptr<const node_health> health,
        metric_sources sources, std::string& err);

  /// Stops serving (waits for requests in work).
  ~http_server();

  http_server(const http_server&) = delete;
  http_server& operator=(const http_server&) = delete;

  /// The bound port.
  uint16_t port() const noexcept;

  struct impl;

private:
  explicit http_server(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

} // namespace cxesdb::gateway::http
