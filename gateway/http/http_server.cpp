#include "gateway/http/http_server.hpp"

#include <cstring>
#include <exception>
#include <limits>
#include <vector>

#include <CivetServer.h>
#include <civetweb.h>
#include <prometheus/client_metric.h>
#include <prometheus/collectable.h>
#include <prometheus/exposer.h>
#include <prometheus/metric_family.h>

#include "gateway/http/process_figures.hpp"

namespace cxesdb::gateway::http {

namespace {

prometheus::MetricFamily one_value(const char* name, const char* help,
                                   prometheus::MetricType type, double value) {
  prometheus::MetricFamily f;
  f.name = name;
  f.help = help;
  f.type = type;
  prometheus::ClientMetric m;
  if (type == prometheus::MetricType::Counter)
    m.counter.value = value;
  else
    m.gauge.value = value;
  f.metric.push_back(std::move(m));
  return f;
}

/// `cxesdb_requests_total` and `cxesdb_request_duration_seconds` by
/// method, `cxesdb_errors_total` by reason.
void add_requests(const request_figures& r,
                  std::vector<prometheus::MetricFamily>& out) {
  using prometheus::MetricType;
  prometheus::MetricFamily total;
  total.name = "cxesdb_requests_total";
  total.help = "JSON-RPC requests answered, by method (errors included).";
  total.type = MetricType::Counter;
  prometheus::MetricFamily duration;
  duration.name = "cxesdb_request_duration_seconds";
  duration.help = "Time from a parsed request to its answer, by method.";
  duration.type = MetricType::Histogram;
  for (auto& m : r.methods) {
    prometheus::ClientMetric c;
    c.label.push_back({"method", m.method});
    c.counter.value = static_cast<double>(m.count);
    total.metric.push_back(c);
    prometheus::ClientMetric h;
    h.label.push_back({"method", m.method});
    h.histogram.sample_count = m.count;
    h.histogram.sample_sum = m.sum_s;
    for (size_t i = 0; i < r.bounds_s.size() && i < m.at_or_below.size(); ++i)
      h.histogram.bucket.push_back({m.at_or_below[i], r.bounds_s[i]});
    h.histogram.bucket.push_back(
      {m.count, std::numeric_limits<double>::infinity()});
    duration.metric.push_back(std::move(h));
  }
  prometheus::MetricFamily errors;
  errors.name = "cxesdb_errors_total";
  errors.help = "Error answers, by reason (data.reason).";
  errors.type = MetricType::Counter;
  for (auto& e : r.errors) {
    prometheus::ClientMetric c;
    c.label.push_back({"reason", e.first});
    c.counter.value = static_cast<double>(e.second);
    errors.metric.push_back(std::move(c));
  }
  out.push_back(std::move(total));
  out.push_back(std::move(duration));
  out.push_back(std::move(errors));
}

/// The per-store families, label `store`: one sample per replica on the
/// node.
void add_stores(const std::vector<store_figures>& stores,
                std::vector<prometheus::MetricFamily>& out) {
  using prometheus::MetricType;
  struct family {
    const char* name;
    const char* help;
    MetricType type;
    double (*value)(const store_figures&);
  };
  static const family families[] = {
    {"cxesdb_appended_events_total",
     "Events appended by requests this node answered as the store's leader.",
     MetricType::Counter,
     [](const store_figures& f) { return double(f.appended_events); }},
    {"cxesdb_append_requests_total",
     "append_events requests this node took as the store's leader.",
     MetricType::Counter,
     [](const store_figures& f) { return double(f.append_requests); }},
    {"cxesdb_raft_term", "The current Raft term of the store's group.",
     MetricType::Gauge,
     [](const store_figures& f) { return double(f.raft_term); }},
    {"cxesdb_raft_commit_index",
     "The commit index of this node's member of the store's group.",
     MetricType::Gauge,
     [](const store_figures& f) { return double(f.raft_commit_index); }},
    {"cxesdb_raft_applied_index",
     "The Raft index the store's database on this node has applied.",
     MetricType::Gauge,
     [](const store_figures& f) { return double(f.raft_applied_index); }},
    {"cxesdb_raft_is_leader",
     "1 when this node's replica leads the store's group.",
     MetricType::Gauge,
     [](const store_figures& f) { return f.raft_is_leader ? 1.0 : 0.0; }},
    {"cxesdb_store_events",
     "Events in the store's database on this node (removed events count "
     "until a scavenge deletes them).",
     MetricType::Gauge,
     [](const store_figures& f) { return double(f.events); }},
    {"cxesdb_store_streams",
     "Streams of the store that hold events and are not deleted.",
     MetricType::Gauge,
     [](const store_figures& f) { return double(f.streams); }},
    {"cxesdb_store_bytes",
     "Bytes of the store's database files (store.db and its WAL) on this "
     "node.",
     MetricType::Gauge,
     [](const store_figures& f) { return double(f.bytes); }},
  };
  for (auto& fam : families) {
    prometheus::MetricFamily f;
    f.name = fam.name;
    f.help = fam.help;
    f.type = fam.type;
    for (auto& s : stores) {
      prometheus::ClientMetric m;
      m.label.push_back({"store", s.store});
      if (fam.type == MetricType::Counter)
        m.counter.value = fam.value(s);
      else
        m.gauge.value = fam.value(s);
      f.metric.push_back(std::move(m));
    }
    out.push_back(std::move(f));
  }
  prometheus::MetricFamily lag;
  lag.name = "cxesdb_subscription_lag_events";
  lag.help = "Positions between a subscription's checkpoint and the store's "
             "last position, for subscriptions served from this node.";
  lag.type = MetricType::Gauge;
  for (auto& s : stores)
    for (auto& sub : s.subscription_lags) {
      prometheus::ClientMetric m;
      m.label.push_back({"store", s.store});
      m.label.push_back({"subscription", sub.first});
      m.gauge.value = static_cast<double>(sub.second);
      lag.metric.push_back(std::move(m));
    }
  out.push_back(std::move(lag));
}

/// The families of one scrape: read when Prometheus asks, on the exposer's
/// thread, so nothing on the request path updates them.
class node_collector final : public prometheus::Collectable {
public:
  explicit node_collector(metric_sources sources)
    : sources_(std::move(sources)) {
    // nop
  }

  std::vector<prometheus::MetricFamily> Collect() const override {
    using prometheus::MetricType;
    std::vector<prometheus::MetricFamily> out;
    if (auto p = read_process_figures()) {
      out.push_back(one_value("process_resident_memory_bytes",
                              "Resident memory size in bytes.",
                              MetricType::Gauge,
                              static_cast<double>(p->resident_memory_bytes)));
      out.push_back(one_value("process_cpu_seconds_total",
                              "Total user and system CPU time spent in "
                              "seconds.",
                              MetricType::Counter, p->cpu_seconds));
      out.push_back(one_value("process_open_fds",
                              "Number of open file descriptors.",
                              MetricType::Gauge,
                              static_cast<double>(p->open_fds)));
    }
    if (sources_.connections)
      out.push_back(one_value("cxesdb_connections",
                              "Open client connections (JSON-RPC port).",
                              MetricType::Gauge,
                              static_cast<double>(sources_.connections())));
    if (sources_.requests)
      add_requests(sources_.requests(), out);
    if (sources_.stores)
      add_stores(sources_.stores(), out);
    return out;
  }

private:
  metric_sources sources_;
};

/// The server whose /health and /ready civetweb's begin_request hook
/// answers (civetweb's user data belongs to the exposer's CivetServer).
std::atomic<http_server::impl*> current_{nullptr};

int answer(mg_connection* conn, int status, const std::string& body) {
  mg_printf(conn,
            "HTTP/1.1 %d %s\r\n"
            "Content-Type: application/json\r\n"
            "Content-Length: %zu\r\n"
            "Cache-Control: no-store\r\n"
            "Connection: close\r\n\r\n",
            status, status == 200 ? "OK" : "Service Unavailable", body.size());
  mg_write(conn, body.data(), body.size());
  return status;
}

int begin_request(mg_connection* conn);

} // namespace

const char* to_status(node_health::phase p) {
  switch (p) {
    case node_health::phase::starting:
      return "starting";
    case node_health::phase::serving:
      return "ok";
    case node_health::phase::stopping:
      return "stopping";
    case node_health::phase::lost:
      break;
  }
  return "unavailable";
}

struct http_server::impl {
  http_config cfg;
  std::shared_ptr<const node_health> health;
  std::shared_ptr<node_collector> collector;
  CivetCallbacks callbacks{};
  std::unique_ptr<prometheus::Exposer> exposer;
  uint16_t port = 0;

  /// /health and /ready; anything else goes on to the exposer (/metrics)
  /// or civetweb's 404. Runs on a civetweb thread.
  int route(mg_connection* conn) {
    auto info = mg_get_request_info(conn);
    if (info == nullptr || info->local_uri == nullptr)
      return 0;
    std::string uri = info->local_uri;
    if (uri != "/health" && uri != "/ready")
      return 0;
    auto p = health->get();
    bool up = p == node_health::phase::serving;
    // Node names are store-id-like (no quotes or backslashes to escape),
    // but escape anyway: the name comes from the operator.
    std::string name;
    for (char c : cfg.node_name) {
      if (c == '"' || c == '\\')
        name += '\\';
      if (static_cast<unsigned char>(c) >= 0x20)
        name += c;
    }
    if (uri == "/health")
      return answer(conn, up ? 200 : 503,
                    std::string{"{\"status\":\""} + to_status(p)
                      + "\",\"node\":\"" + name + "\"}");
    return answer(conn, up ? 200 : 503,
                  std::string{"{\"ready\":"} + (up ? "true" : "false")
                    + ",\"status\":\"" + to_status(p) + "\"}");
  }
};

namespace {

int begin_request(mg_connection* conn) {
  auto self = current_.load();
  return self != nullptr ? self->route(conn) : 0;
}

} // namespace

std::unique_ptr<http_server>
http_server::start(const http_config& cfg,
                   std::shared_ptr<const node_health> health,
                   metric_sources sources, std::string& err) {
  auto p = std::make_unique<impl>();
  p->cfg = cfg;
  p->health = std::move(health);
  p->collector = std::make_shared<node_collector>(std::move(sources));
  p->callbacks.begin_request = begin_request;
  http_server::impl* expected = nullptr;
  if (!current_.compare_exchange_strong(expected, p.get())) {
    err = "an HTTP server already runs in this process";
    return nullptr;
  }
  auto host = cfg.bind.find(':') != std::string::npos ? "[" + cfg.bind + "]"
                                                      : cfg.bind;
  std::vector<std::string> options{
    "listening_ports", host + ":" + std::to_string(cfg.port),
    "num_threads", std::to_string(cfg.threads),
    "request_timeout_ms", "10000",
  };
  try {
    p->exposer = std::make_unique<prometheus::Exposer>(options, &p->callbacks);
  } catch (const std::exception& e) {
    current_ = nullptr;
    err = e.what();
    if (err.empty())
      err = "cannot bind";
    return nullptr;
  }
  p->exposer->RegisterCollectable(p->collector);
  auto ports = p->exposer->GetListeningPorts();
  if (ports.empty() || ports.front() <= 0 || ports.front() > 65535) {
    current_ = nullptr;
    err = "the server reports no listening port";
    return nullptr;
  }
  p->port = static_cast<uint16_t>(ports.front());
  return std::unique_ptr<http_server>(new http_server(std::move(p)));
}

http_server::http_server(std::unique_ptr<impl> p) : impl_(std::move(p)) {
  // nop
}

http_server::~http_server() {
  impl_->exposer.reset(); // stops civetweb's threads
  current_ = nullptr;
}

uint16_t http_server::port() const noexcept {
  return impl_->port;
}

} // namespace cxesdb::gateway::http
