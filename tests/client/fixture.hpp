#pragma once

// The nodes the client suite runs against, in one place so that the suite
// can run against a cluster by changing only this file: `nodes()` returns
// every node's endpoints; the tests send the JSON-RPC side of a comparison
// to one node and the C++ client's side to the next (the same node when
// there is one). Include after doctest/doctest.h.

#include <memory>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "caf/actor_system.hpp"
#include "caf/actor_system_config.hpp"
#include "caf/io/middleman.hpp"

#include "gateway/client.hpp"
#include "tests/integration/cluster.hpp"
#include "tests/integration/node_process.hpp"

namespace cxesdb::tests {

/// Where one node answers: its JSON-RPC port and its CAF API port.
struct endpoint {
  std::string host;
  uint16_t json_port = 0;
  uint16_t api_port = 0;
};

/// Every node of the set under test, started on first use and shared by the
/// test cases of the binary: a cluster of three nodes, so that the JSON side
/// of a comparison and the C++ side go through different nodes (and every
/// request is routed to its store's leader wherever that is).
inline std::vector<endpoint> nodes() {
  static std::unique_ptr<cluster> c;
  if (!c) {
    c = std::make_unique<cluster>(cluster_options{});
    if (!c->wait_all_up(std::chrono::seconds{60}))
      FAIL("the cluster did not form:\n" << c->post_mortem());
  }
  std::vector<endpoint> out;
  for (size_t i = 1; i <= c->size(); ++i) {
    auto& node = c->node(i);
    if (!node.running())
      FAIL("node " << i << " died:\n" << c->post_mortem());
    out.push_back(endpoint{"127.0.0.1", node.port(), node.api_port()});
  }
  return out;
}

/// The actor system of the suite's C++ clients and its config, made on
/// first use.
struct client_system_holder {
  std::unique_ptr<caf::actor_system_config> cfg;
  std::unique_ptr<caf::actor_system> sys;

  static client_system_holder& instance() {
    static client_system_holder x;
    return x;
  }
};

/// The actor system the C++ clients of the suite run in.
inline caf::actor_system& client_system() {
  auto& h = client_system_holder::instance();
  if (!h.sys) {
    h.cfg = std::make_unique<caf::actor_system_config>();
    h.cfg->load<caf::io::middleman>();
    h.cfg->set("logger.verbosity", caf::atom("quiet"));
    h.cfg->set("logger.console", caf::atom("none"));
    gateway::add_error_category(*h.cfg);
    h.sys = std::make_unique<caf::actor_system>(*h.cfg);
  }
  return *h.sys;
}

/// Stops the suite's actor system. Call before main returns: CAF 0.17 does
/// not survive an actor system destroyed among static objects at exit.
inline void stop_client_system() {
  auto& h = client_system_holder::instance();
  h.sys.reset();
  h.cfg.reset();
}

/// A JSON-RPC client connected to node `i` (modulo the set's size).
inline gateway::json_client json_client_at(size_t i) {
  auto ns = nodes();
  auto& e = ns[i % ns.size()];
  gateway::json_client c;
  if (auto err = c.connect(e.host, e.json_port, 5000))
    FAIL("cannot connect the JSON client: " << *err);
  return c;
}

/// A C++ client connected to node `i + 1` (modulo the set's size): with
/// several nodes, the two clients of a comparison talk to different nodes.
inline gateway::client api_client_at(size_t i) {
  auto ns = nodes();
  auto& e = ns[(i + 1) % ns.size()];
  auto& sys = client_system();
  auto c = gateway::client::connect(sys, e.host, e.api_port);
  if (!c)
    FAIL("cannot connect the C++ client: " << sys.render(c.error()));
  return std::move(*c);
}

} // namespace cxesdb::tests
