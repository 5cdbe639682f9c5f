#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "caf/actor.hpp"

#include "stores/backup.hpp"
#include "stores/store_group.hpp"
#include "stores/subscriptions.hpp"

namespace cxesdb::actors {
class executor;
} // namespace cxesdb::actors

namespace cxesdb::stores {

class store_metrics;

/// The id of the catalog's store: a replicated store of its own, which no
/// client can name (store ids start with a letter).
constexpr const char* system_store_id = "_system";

/// How the store manager runs.
struct store_manager_config {
  /// Where every store's directory lives (`_system` holds the catalog).
  std::string data_dir = "./data";

  /// The store created once per cluster, which cannot be removed.
  std::string default_store = "default";

  /// This node's name (`--node-name`): its identity in the cluster and, by
  /// a stable hash, its id in every Raft group.
  std::string node_name = "node1";

  /// This node's cluster address (`host:port` of its registry), as other
  /// nodes reach it; recorded in the catalog when the node joins.
  std::string cluster_address;

  /// `--seeds`: cluster addresses (`host:port`) of other nodes. Empty: this
  /// node founds a new cluster (it bootstraps the catalog with itself as the
  /// only member and creates the default store). A node among its own seeds
  /// (one identical list on every node) founds the cluster when it is the
  /// founding seed and joins it otherwise; any other node joins the cluster
  /// its seeds belong to. stores/bootstrap.hpp has the rule.
  std::vector<std::string> seeds;

  /// The node's registry (membership and names); none on a node that runs
  /// without the middleman (tests).
  caf::actor registry;

  /// Most stores on one node; create_store beyond it is `overloaded`.
  size_t stores_max = 10000;
  static constexpr size_t stores_max_default = 10000;

  /// Read connections per store.
  size_t readers_per_store = 2;

  /// Real time per Raft tick of every group on this node.
  uint64_t tick_interval_ms = replica_config::tick_interval_ms_default;

  /// How often the leader of each local group compares its membership
  /// with the placement and makes one change. Also how often the founding
  /// seed, until it has decided, asks the seeds whether they are in a
  /// cluster (the bootstrap probe), and how long it waits for their
  /// answers: an answer counts only in the round that asked.
  uint64_t reconcile_interval_ms = 1000;
  static constexpr uint64_t reconcile_interval_ms_default = 1000;

  /// Requests being routed at once; beyond it requests are `overloaded`.
  size_t routes_max = 100000;
  static constexpr size_t routes_max_default = 100000;

  /// Attempts of one routed request (redirects and retries).
  size_t route_attempts_max = 100;

  /// Longest wait before retrying a request when no leader is known. The
  /// first retries come sooner (`route_backoff_first_ms`, doubling): a
  /// store just created, or a leader just elected, is usually ready within
  /// a few milliseconds.
  uint64_t route_backoff_ms = 100;
  static constexpr uint64_t route_backoff_first_ms = 5;

  /// Longest wait for one store's state in cluster_status, and for each
  /// part of get_store_status: a store whose leader cannot be reached
  /// within it is listed with `leader: null`, so one store without a
  /// quorum does not hold up the whole answer.
  uint64_t status_timeout_ms = 1000;
  static constexpr uint64_t status_timeout_ms_default = 1000;

  /// Longest wait for one attempt's answer; then an idempotent request
  /// goes to the next node (a paused or partitioned leader).
  uint64_t route_attempt_timeout_ms = 3000;
  static constexpr uint64_t route_attempt_timeout_ms_default = 3000;

  /// Most voters of the catalog group; further nodes follow it as learners.
  size_t system_voters_max = 5;

  store_group_limits group_limits;

  /// Where backup_store writes and restore_store reads backups
  /// (`--backup-dir`, default `<data dir>/_backups`).
  std::string backup_dir = "./data/_backups";

  /// The backup directory's limits (`--max-backups`).
  backup_limits backup;

  subscription_limits sub_limits;

  /// The node's Raft log, shared by every replica on the node (`<data
  /// dir>/_log`); a replica retired from this node is forgotten in it
  /// before its directory is deleted.
  std::shared_ptr<actors::raft::node_log> log;

  /// When set, each replica's writer puts itself in while it leads its
  /// group (replica_config::leaders), for the gateway's direct path.
  std::shared_ptr<local_leaders> leaders;

  /// When set, each client store's replica keeps its figures for /metrics
  /// here (replica_config::counters); a removed store's go with it.
  std::shared_ptr<store_metrics> metrics;
};

/// Spawns the store manager: the actor that runs this node's replicas of
/// the cluster's stores, keeps this node's view of the catalog (the
/// `_system` store's events), routes every request to the node of its
/// store's leader, and moves replicas to follow the placement.
///
/// Messages from the gateway:
/// - `(ready_atom) -> bool`: answers once this node is part of the cluster
///   (and, on the founding node, the default store runs).
/// - `(create_atom, store_config) -> store_info`, errors already_exists,
///   invalid_params, overloaded, unavailable, timeout.
/// - `(remove_atom, std::string id) -> bool`, errors not_found, forbidden.
/// - `(backup_atom, std::string id, std::string name) -> std::string`:
///   backup_store's result as JSON text, errors not_found, already_exists,
///   too_large, unavailable (no running replica here).
/// - `(backup_atom, list_atom) -> std::string`: list_backups' result.
/// - `(restore_atom, std::string id, std::string backup) -> store_info`,
///   errors invalid_params, already_exists, not_found (no such backup),
///   overloaded, unavailable, timeout.
/// - `(list_atom) -> std::vector<store_info>`.
/// - `(get_atom, std::string id) -> store_info`, error not_found.
/// - `(info_atom, std::string id) -> std::string`: get_store_status's
///   result as JSON text, error not_found.
/// - `(write_atom, std::string id, command) -> command_result`, routed.
/// - `(read_atom, std::string id, query) -> query_result`, routed.
/// - `(cluster_atom) -> std::string`: cluster_status as JSON text.
/// - subscriptions, served by the store's replica on this node (see
///   subscriptions.hpp): `(subscribe_atom, id, subscribe_request,
///   caf::actor subscriber)`, `(unsubscribe_atom, id, std::string sub,
///   caf::actor subscriber)`, `(ack_atom, id, std::string sub, int64_t
///   position, caf::actor subscriber)`, `(remove_atom, id, name, type,
///   selector)`, `(list_atom, id)`.
///
/// Messages from other nodes' managers (serializable types only):
/// - `(raft_msg_atom, std::string group, std::string from_node, bytes)`.
/// - `(forward_atom, std::string store, uint8 kind, bytes) -> bytes`: runs
///   a write (kind 0), a read (1) or a status query (2) on this node's
///   replica, which must be the leader.
/// - `(retire_atom, std::string store)`: this node's replica left the
///   store's group; stop it and delete its data.
/// - `(members_atom) -> std::vector<std::string>`: the nodes of this node's
///   catalog view, empty while it is in no cluster (the bootstrap probe).
caf::actor spawn_store_manager(caf::actor_system& sys,
                               store_manager_config cfg,
                               actors::executor& exec);

} // namespace cxesdb::stores
