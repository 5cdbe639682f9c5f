#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "caf/fwd.hpp"

#include "gateway/api.hpp"

namespace cxesdb::gateway {

class auth_registry;

/// How the API actor listens and bounds its work.
struct remote_api_config {
  /// Address the API port binds to (the node's --bind).
  std::string bind = "127.0.0.1";

  /// Port to publish on, flag --api-port; 0 picks a free port.
  uint16_t port = 7412;
  static constexpr uint16_t port_default = 7412;

  /// Calls in work at most, over all remote clients; beyond it a call is
  /// answered `overloaded` at once (the middleman's queue does not grow
  /// without bound behind a slow store).
  size_t calls_in_flight_max = 4096;
  static constexpr size_t calls_in_flight_default = 4096;

  /// Remote subscribers (actors that subscribed through the API, each with
  /// a proxy on this node) at most; a save_subscription from one more is
  /// answered `overloaded`.
  size_t subscribers_max = 10000;
  static constexpr size_t subscribers_default = 10000;

  /// How long a call may take before it is answered `timeout`. The gateway
  /// answers every call within its own request timeout; this is the safety
  /// net above it (a lost worker, a stuck pool), so it should be longer.
  std::chrono::milliseconds call_timeout{15000};

  /// Longest params text, as --max-message-bytes for JSON-RPC lines; longer
  /// is `too_large` with `limit`.
  size_t message_bytes_max = 16u << 20;

  /// The node's auth file (--auth-file); null: authentication is off.
  /// With it, the API authenticates as the client port does (protocol
  /// section 8), per calling node: a C++ client's every call comes from a
  /// fresh actor, but all from its process's CAF node, which is what
  /// `authenticate` signs in (gateway/auth_gate.hpp: only `health` and
  /// `authenticate` before it, a user's rights after it).
  std::shared_ptr<const auth_registry> auth;

  /// Calling nodes whose sign-in the API keeps, at most; one more pushes
  /// out the one unused longest (its next call must authenticate again).
  size_t sessions_max = 10000;
  static constexpr size_t sessions_max_default = 10000;

  /// After the fifth wrong token (auth_gate::failures_max) a calling node
  /// is refused for this long, whatever it sends: the API cannot close a
  /// CAF connection as the client port closes a socket.
  std::chrono::milliseconds auth_lockout{60000};

  /// Publish through CAF's OpenSSL module (--cluster-tls-*): the system
  /// must have loaded `caf::openssl::manager` with its certificate files.
  bool tls = false;
};

/// Spawns the API actor: it serves `api_actor` (gateway/api.hpp) by turning
/// each call into one JSON-RPC request line for `gateway`'s worker pool and
/// the pool's response into the call's result or a `caf::error` of category
/// "cxesdb". A subscriber's calls go through its proxy
/// (gateway/remote_subscriber.hpp), which the API actor makes on the
/// subscriber's first save_subscription and stops when it stops. It never
/// blocks and keeps no more than `calls_in_flight_max` calls and
/// `subscribers_max` proxies.
api_actor spawn_remote_api(caf::actor_system& sys, caf::actor gateway,
                           remote_api_config cfg);

/// Spawns the API actor and publishes it (through the OpenSSL module with
/// `cfg.tls`) on
/// `cfg.bind:cfg.port`. Returns the bound port and the actor in `api`, or 0
/// and an error text in `err` (the actor is then stopped).
uint16_t start_remote_api(caf::actor_system& sys, caf::actor gateway,
                          const remote_api_config& cfg, api_actor& api,
                          std::string& err);

} // namespace cxesdb::gateway
