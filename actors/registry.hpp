#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "caf/actor.hpp"
#include "caf/allowed_unsafe_message_type.hpp"
#include "caf/fwd.hpp"

#include "actors/peer_secret.hpp"

namespace cxesdb::actors {

/// How a node's registry finds its peers and what it bounds.
struct registry_config {
  /// This node's name, unique in the cluster. Names order conflicting
  /// registrations (see `spawn_registry`), and the node's Raft id is
  /// `stable_hash64(node_name)`.
  std::string node_name;

  /// The address peers use to reach this node's cluster port.
  std::string host = "127.0.0.1";

  /// The cluster port the registry is published on; 0 until known. Usually
  /// the caller publishes the spawned registry first and then sends it
  /// `(caf::publish_atom, uint16_t port)`; a non-zero port here starts the
  /// registry's membership work right away.
  uint16_t port = 0;

  /// Other nodes' cluster addresses, "host:port". Seeds are retried every
  /// `reconnect_interval_ms` while no up member has their address. A node
  /// without seeds is a cluster of one until another node seeds to it.
  std::vector<std::string> seeds;

  /// How often the registry sends a heartbeat and its member list to every
  /// up member.
  uint64_t heartbeat_interval_ms = 500;
  static constexpr uint64_t heartbeat_interval_ms_default = 500;

  /// A member not heard from for this long is down.
  uint64_t failure_timeout_ms = 3000;
  static constexpr uint64_t failure_timeout_ms_default = 3000;

  /// How often the registry tries again to reach seeds and down members.
  uint64_t reconnect_interval_ms = 1000;
  static constexpr uint64_t reconnect_interval_ms_default = 1000;

  /// How long one attempt to reach a peer (TCP connect, CAF handshake and
  /// hello) may take before it counts as failed.
  uint64_t connect_timeout_ms = 2000;
  static constexpr uint64_t connect_timeout_ms_default = 2000;

  /// Most members, this node included. Further nodes are ignored with a
  /// warning.
  size_t members_max = 64;
  static constexpr size_t members_max_default = 64;

  /// Most entries in this node's replica of the name table: registered names
  /// plus group memberships, of every owner. Local registrations beyond it
  /// fail; remote ones are dropped with a warning.
  size_t names_max = 100000;
  static constexpr size_t names_max_default = 100000;

  /// The cluster secret (actors/peer_secret.hpp): a peer counts as a member
  /// only after proving it holds the same one (or, without a secret, that
  /// it has none either).
  peer_secret secret;
  /// The middleman actor peers are reached through: the OpenSSL manager's
  /// when the cluster runs under TLS; invalid: the plain middleman's.
  caf::actor connector;
  /// Hello challenges handed out and not yet answered, at most; the oldest
  /// goes when one more comes, and each expires after `connect_timeout_ms`.
  size_t challenges_max = 1024;
  static constexpr size_t challenges_max_default = 1024;
  /// Longest multicall timeout; longer requests are cut to it.
  uint64_t multicall_timeout_ms_max = 60000;
  static constexpr uint64_t multicall_timeout_ms_max_default = 60000;

  /// Most multicalls in flight at once; further ones fail.
  size_t multicalls_max = 1024;
  static constexpr size_t multicalls_max_default = 1024;
};

/// One member of the cluster as this node sees it, in the reply to
/// `(members_atom)`. Local only: it never crosses the network.
struct member_info {
  std::string name;
  /// "host:port" of the member's cluster port.
  std::string address;
  bool up = false;
  /// Whether this is the node that answered.
  bool self = false;
};

/// Spawns a node's registry: cluster membership, failure detection, and a
/// cluster-wide table of names and groups, in the manner of Elixir's Swarm and
/// Horde. It is a routing hint, eventually consistent: a store's Raft group is
/// the source of truth about its leader.
///
/// Publishing. The caller publishes the registry on the cluster port through
/// the middleman and then tells it the port:
///
///     auto reg = spawn_registry(sys, cfg);
///     auto port = sys.middleman().publish(reg, cluster_port, bind);
///     caf::anon_send(reg, caf::publish_atom_v, *port);
///
/// Membership. Every `reconnect_interval_ms` the registry reaches each seed
/// and each known member that is down, without blocking: it asks the
/// middleman actor to connect, then sends the remote registry a hello. Of
/// two nodes, the one with the smaller name reaches the other at once (on
/// gossip, or on the next interval after it went down); the other waits
/// until the member has been down for `failure_timeout_ms`, so that the two
/// do not connect to each other at the same moment. Every
/// `heartbeat_interval_ms` it sends each up member a heartbeat and the list of
/// up members (gossip). A
/// member is down when it has not been heard from for `failure_timeout_ms` or
/// when its registry's handle goes down (connection lost). A member that
/// comes back, possibly restarted with a new handle and a new address, is up
/// again after its next hello.
///
/// Names and groups. Every registration is owned by the node whose registry
/// made it; the owner monitors the registered actor and sends every change to
/// every up member, and sends its whole share to a member on every hello.
/// When the actor dies its owner removes its entries; when the owner goes
/// down every registry drops the owner's entries. Conflicts: when two nodes
/// register one name concurrently, every registry answers `whereis` with the
/// registration of the lexically smallest owner node name, and the other
/// owner drops its registration (with a warning) as soon as it learns of the
/// winner. `whereis` and group lookups are answered from the local replica,
/// without a network round trip.
///
/// The local interface (for the node's own actors):
///
/// - `(caf::publish_atom, uint16_t port)`: the port the registry was
///   published on; starts membership work. No reply.
/// - `(members_atom)` -> `std::vector<member_info>`: every known member,
///   this node first (up, self), then the others sorted by name.
/// - `(caf::subscribe_atom, caf::actor listener)`: the listener receives
///   `(member_up_atom, std::string name, std::string address)` at once for
///   every up member (this node included), then
///   `(member_up_atom, name, address)` and `(member_down_atom, std::string
///   name)` on every change. A member restarted with a new handle is
///   reported down, then up. Dropped when the listener dies. No reply.
/// - `(caf::unsubscribe_atom, caf::actor listener)`: stops the updates.
///   No reply.
/// - `(register_atom, std::string name, caf::actor a)` -> `bool`: registers
///   `a` under `name` cluster-wide; true when registered (or when `a`
///   already holds the name), false when another actor holds it; an error
///   when the table is full.
/// - `(unregister_atom, std::string name)` -> `bool`: removes this node's
///   registration of `name`; true when there was one. Registrations owned by
///   other nodes are removed by their owners only.
/// - `(whereis_atom, std::string name)` -> `caf::actor`: the actor holding
///   `name`, or an invalid handle.
/// - `(names_atom)` -> `std::vector<std::string>`: every registered name,
///   sorted.
/// - `(caf::join_atom, std::string group, caf::actor a)` -> `bool`: adds `a`
///   to `group` (true unless it was a member through this node already); an
///   error when the table is full.
/// - `(caf::leave_atom, std::string group, caf::actor a)` -> `bool`: removes
///   `a` from `group` if this node added it; true when it did.
/// - `(members_atom, std::string group)` -> `std::vector<caf::actor>`: the
///   group's members, each once, in no particular order.
/// - `(multicall_atom, std::string group, caf::message msg, uint64_t
///   timeout_ms)` -> `std::vector<caf::message>`: sends `msg` as a request to
///   every member of `group` and answers with the replies received within
///   `timeout_ms` (cut to `multicall_timeout_ms_max`), in arrival order;
///   errors and timeouts are left out. An error when `multicalls_max` calls
///   are in flight.
///
/// The peer protocol (between registries, across nodes; only serializable
/// types: strings, integers, string vectors, actor handles):
///
/// - `(hello_atom, std::string nonce)` -> `(std::string nonce, std::string
///   proof)`: the challenge before a hello; the answer proves this node
///   holds the cluster secret (actors/peer_secret.hpp).
/// - `(hello_atom, std::string name, std::string address, caf::actor
///   registry, std::string nonce, std::string proof)` ->
///   `(std::string name, std::string address)`: `nonce` is the challenge's
///   answer, `proof` the caller's; refused when the proof is wrong.
///
/// The local interface refuses calls from other nodes, and a peer that has
/// not proven the secret learns nothing of the name table: no actor of the
/// node is named to it.
/// - `(heartbeat_atom, std::string from)`.
/// - `(gossip_atom, std::string from, std::vector<std::string> members)`:
///   up members as name, address, name, address, ...
/// - `(names_atom, register_atom, std::string owner, std::string name,
///   caf::actor)` and `(names_atom, unregister_atom, owner, name)`.
/// - `(names_atom, caf::join_atom, owner, group, caf::actor)` and
///   `(names_atom, caf::leave_atom, owner, group, caf::actor)`.
/// - `(names_atom, std::string owner, std::vector<std::string> names,
///   std::vector<caf::actor> name_actors, std::vector<std::string> groups,
///   std::vector<caf::actor> group_actors)`: the owner's whole share,
///   replacing what the receiver had from it.
caf::actor spawn_registry(caf::actor_system& sys, registry_config cfg);

} // namespace cxesdb::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(cxesdb::actors::member_info)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<cxesdb::actors::member_info>)
