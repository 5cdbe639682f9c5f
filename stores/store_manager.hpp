#pragma once

#include <cstddef>
#include <string>

#include "caf/fwd.hpp"

#include "stores/store_group.hpp"
#include "stores/subscriptions.hpp"

namespace cxesdb::actors {
class executor;
} // namespace cxesdb::actors

namespace cxesdb::stores {

/// How the store manager runs.
struct store_manager_config {
  /// Where every store's directory and the catalog live.
  std::string data_dir = "./data";

  /// The store created at start-up, which cannot be removed.
  std::string default_store = "default";

  /// Most stores on one node; create_store beyond it is `overloaded`.
  size_t stores_max = 10000;
  static constexpr size_t stores_max_default = 10000;

  /// Read connections per store.
  size_t readers_per_store = 2;

  store_group_limits group_limits;

  subscription_limits sub_limits;
};

/// Spawns the store manager: the actor that creates, removes, lists and
/// reports the stores of this node, keeps the catalog on disk, opens every
/// catalogued store at start-up and creates the default store. It routes
/// writes to a store's writer and reads to its reader.
///
/// Messages:
/// - `(ready_atom) -> bool`: answers once start-up is done.
/// - `(create_atom, store_config) -> store_info`, errors already_exists,
///   invalid_params, overloaded.
/// - `(remove_atom, std::string id) -> bool`, errors not_found, forbidden.
/// - `(list_atom) -> std::vector<store_info>`.
/// - `(get_atom, std::string id) -> store_info`, error not_found.
/// - `(write_atom, std::string id, command) -> command_result`.
/// - `(read_atom, std::string id, query) -> query_result`.
/// - subscriptions, routed to the store's hub (see subscriptions.hpp):
///   `(subscribe_atom, id, subscribe_request, caf::actor subscriber)`,
///   `(unsubscribe_atom, id, std::string sub, caf::actor subscriber)`,
///   `(ack_atom, id, std::string sub, int64_t position, caf::actor
///   subscriber)`, `(remove_atom, id, name, type, selector)`,
///   `(list_atom, id)`.
caf::actor spawn_store_manager(caf::actor_system& sys,
                               store_manager_config cfg,
                               actors::executor& exec);

} // namespace cxesdb::stores
