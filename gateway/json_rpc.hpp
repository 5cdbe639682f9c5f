#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "gateway/json_slim.hpp"
#include "stores/catalog.hpp"
#include "stores/errc.hpp"
#include "stores/subscriptions.hpp"
#include "stores/types.hpp"

namespace cxesdb::gateway {

class uuid_generator;

/// The limits the gateway checks requests against. Flags of cxesdb-node set
/// them; each has a default.
struct rpc_limits {
  /// Longest message (one NDJSON line), flag --max-message-bytes.
  size_t message_bytes_max = 16u << 20;
  static constexpr size_t message_bytes_default = 16u << 20;

  /// Largest encoded event, flag --max-event-bytes.
  size_t event_bytes_max = stores::limits::event_bytes_default;

  /// Most requests in one JSON-RPC batch, flag --max-batch-requests.
  size_t batch_requests_max = 1000;
  static constexpr size_t batch_requests_default = 1000;

  /// Deepest nesting of arrays and objects in a message. Deeper JSON is
  /// refused before it is parsed: parsing, printing and matching recurse.
  static constexpr size_t json_depth_max = 256;
};

/// The deepest nesting of arrays and objects in `text`, or 0 for scalars.
/// Does not validate; strings (with escapes) are skipped.
size_t json_depth(const std::string& text);

/// A protocol error: a reason of section 2, a text, and extra `data` fields
/// (`field`, `limit`, `current_version`, ...).
struct rpc_error {
  stores::errc reason = stores::errc::internal_error;
  std::string message;
  nlohmann::json data = nlohmann::json::object();
};

/// The methods of the protocol this node serves.
enum class method {
  create_store,
  remove_store,
  list_stores,
  get_store_status,
  get_store_config,
  append_events,
  get_events,
  get_version,
  get_streams,
  read_all,
  record_snapshot,
  read_snapshot,
  delete_snapshot,
  list_snapshots,
  save_subscription,
  unsubscribe,
  remove_subscription,
  get_subscriptions,
  ack_event,
  health,
  cluster_status,
  leave_cluster,
  delete_stream,
  truncate_stream,
  set_stream_metadata,
  get_stream_metadata,
  scavenge_store,
  backup_store,
  list_backups,
  restore_store,
};

/// How many methods there are: arrays indexed by method (the request
/// metrics) have this size. restore_store is the last; a method added after
/// it moves this, or the first lookup of a method name fails an assert (the
/// name table must have exactly this many entries).
constexpr size_t method_count = static_cast<size_t>(method::restore_store) + 1;

/// Finds a method by its protocol name.
bool find_method(const std::string& name, method& out);

/// The protocol name of a method.
std::string method_name(method m);

/// What a call asks for once its params are checked: a command for a store's
/// writer, a query for its reader, or a store-management operation.
struct parsed_call {
  method m = method::health;
  std::string store;
  stores::command cmd;
  stores::query q;
  stores::store_config config;
  /// The expected_version as the client sent it, for error data.
  nlohmann::json expected_as_sent;
  /// save_subscription
  stores::subscribe_request subscribe;
  /// unsubscribe, ack_event: the subscription id; remove_subscription: name
  std::string subscription;
  /// leave_cluster: the node that leaves
  std::string node;
  /// backup_store: the new backup's name; restore_store: the backup
  std::string backup;
  /// ack_event
  int64_t position = -1;
  /// remove_subscription
  std::string sub_type;
  std::string sub_selector;
};

/// Context a parse needs besides the params.
struct parse_context {
  const rpc_limits* limits = nullptr;
  const std::string* default_store = nullptr;
  uuid_generator* uuids = nullptr;
  int64_t now_us = 0;
  /// append_events parsed from a slim line (json_slim.hpp): the events'
  /// data and metadata text as received, by event index; null otherwise.
  const std::vector<raw_event_text>* raw_events = nullptr;
  /// The config file's `store_templates` (an object: template name ->
  /// create_store config), checked by check_store_templates; null: none.
  const nlohmann::json* store_templates = nullptr;
};

/// Whether `name` may name a store template: 1 to 64 bytes of letters,
/// digits, '_' and '-'.
bool valid_template_name(const std::string& name);

/// Checks the config file's `store_templates`: an object whose keys are
/// template names and whose values are create_store `config` objects that
/// create_store accepts. Nullopt when good, else what is wrong (for the
/// node to refuse to start).
std::optional<std::string> check_store_templates(const nlohmann::json& t);

/// Checks `params` for method `m` and turns them into a parsed_call, or
/// explains what is wrong. Touches nothing; pure.
std::variant<parsed_call, rpc_error>
parse_call(method m, const nlohmann::json& params, const parse_context& ctx);

/// Whether a method changes a store (goes to its writer).
bool is_write(method m);

/// Whether a method reads a store (goes to its reader).
bool is_read(method m);

/// Whether a method is about subscriptions (goes to the store's hub).
bool is_subscription(method m);

/// A subscription event as a JSON-RPC notification.
std::string event_notification(const std::string& store,
                               const std::string& subscription,
                               const stores::recorded_event& e);

/// The notification that a subscription ended without being asked to.
std::string dropped_notification(const std::string& store,
                                 const std::string& subscription,
                                 const std::string& reason);

/// get_subscriptions' result.
std::string format_subscriptions(
  const std::vector<stores::subscription_info>& infos);

// -- results, as JSON text ----------------------------------------------------

/// The result of a write, or the error its outcome maps to.
std::variant<std::string, rpc_error>
format_write(const parsed_call& call, const stores::command_result& r);

/// The result of a read, or the error its outcome maps to.
std::variant<std::string, rpc_error>
format_read(const parsed_call& call, const stores::query_result& r);

/// A store's config as the protocol shows it.
nlohmann::json config_json(const stores::store_config& cfg);

/// One event as the node returns it.
void append_event_json(std::string& out, const stores::recorded_event& e);

/// `{"jsonrpc":"2.0","id":<id_text>,"result":<result_text>}`.
std::string response(const std::string& id_text, const std::string& result);

/// `{"jsonrpc":"2.0","id":<id_text>,"error":{...}}`.
std::string error_response(const std::string& id_text, const rpc_error& err);

/// Makes an rpc_error.
rpc_error make_rpc_error(stores::errc reason, std::string message);

/// Makes an invalid_params error naming `field`.
rpc_error invalid_param(const std::string& field, std::string message);

} // namespace cxesdb::gateway
