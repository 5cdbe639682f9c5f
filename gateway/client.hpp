#pragma once

// The C++ client library of cxesdb (library `cxesdb_client`): typed calls to
// a node's API actor (gateway/api.hpp), published on the node's --api-port.
// It offers the operations of the client protocol (docs/protocol.md) with the
// same parameters, results and error reasons as JSON-RPC; subscribers are
// actors that receive events as messages.
//
// Namespace: cxesdb::gateway, like everything under gateway/.

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "caf/atom.hpp"
#include "caf/error.hpp"
#include "caf/expected.hpp"
#include "caf/fwd.hpp"

#include "gateway/api.hpp"
#include "stores/errc.hpp"

namespace cxesdb::gateway {

// -- errors -------------------------------------------------------------------

/// The error reasons of the protocol (section 2), as the codes of the
/// `caf::error`s the client returns. Every error a client function returns
/// has category `caf::atom("cxesdb")` and one of these codes: the node's
/// reasons as they are, and for transport failures `unavailable` (could not
/// reach the node; safe to retry) or `timeout` (a write's outcome is
/// unknown). `to_string(errc)` gives the protocol's tag ("not_found", ...).
using errc = stores::errc;

/// The error category of cxesdb errors.
constexpr caf::atom_value error_category = caf::atom("cxesdb");

/// The reason of an error the client returned; `internal_error` for an error
/// of another category.
errc reason_of(const caf::error& err);

/// The human text of an error the client returned.
std::string message_of(const caf::error& err);

/// The `data` object of an error the client returned, as a JSON-RPC client
/// sees it: `reason`, and `field`, `what`, `limit`, `current_version`,
/// `expected_version` where the protocol names them.
nlohmann::json data_of(const caf::error& err);

/// Makes an error as the client returns them.
caf::error make_client_error(errc reason, std::string message,
                             nlohmann::json data = nlohmann::json::object());

/// Lets `cfg`'s actor system render cxesdb errors (`system.render(err)`).
/// Call before constructing the actor system.
void add_error_category(caf::actor_system_config& cfg);

// -- values -------------------------------------------------------------------

/// The `expected_version` of an append: "any", "no_stream",
/// "stream_exists", or the event_number of the stream's last event (-1: the
/// stream has no events).
class expected_version {
public:
  enum class kind { any, no_stream, stream_exists, exactly };

  static expected_version any() {
    return expected_version{kind::any, 0};
  }

  static expected_version no_stream() {
    return expected_version{kind::no_stream, 0};
  }

  static expected_version stream_exists() {
    return expected_version{kind::stream_exists, 0};
  }

  static expected_version exactly(int64_t version) {
    return expected_version{kind::exactly, version};
  }

  kind which() const noexcept {
    return kind_;
  }

  /// The version for `kind::exactly`.
  int64_t version() const noexcept {
    return version_;
  }

  /// As the protocol writes it: a string or an integer.
  nlohmann::json to_json() const;

private:
  expected_version(kind k, int64_t v) : kind_(k), version_(v) {
  }

  kind kind_;
  int64_t version_;
};

/// An event as the client writes it (protocol section 5).
struct event_data {
  event_data() = default;

  event_data(std::string event_type, nlohmann::json data,
             nlohmann::json metadata = nullptr, std::string event_id = {},
             std::string content_type = {})
    : event_type(std::move(event_type)),
      data(std::move(data)),
      metadata(std::move(metadata)),
      event_id(std::move(event_id)),
      content_type(std::move(content_type)) {
  }

  /// Required: non-empty, at most 255 bytes.
  std::string event_type;
  /// Any JSON value (a base64 string for application/octet-stream).
  nlohmann::json data;
  nlohmann::json metadata = nullptr;
  /// A UUID string; empty: the node generates a UUIDv7.
  std::string event_id;
  /// Empty: application/json.
  std::string content_type;
};

/// An event as the node returns it.
struct recorded_event {
  std::string stream_id;
  int64_t event_number = 0;
  int64_t position = 0;
  std::string event_id;
  std::string event_type;
  nlohmann::json data;
  nlohmann::json metadata;
  std::string content_type;
  /// UTC, `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
  std::string created;
  /// The same instant in microseconds since 1970.
  int64_t created_epoch = 0;
};

/// What create_store may set; unset fields take the node's defaults.
struct store_settings {
  std::optional<int64_t> timeout_ms;
  std::optional<int64_t> replication_factor;
  std::optional<std::string> description;
  std::optional<std::vector<std::string>> tags;
};

/// A store's config as the node returns it.
struct store_config {
  int64_t timeout_ms = 0;
  int64_t replication_factor = 0;
  /// Null when not given.
  std::optional<std::string> description;
  std::vector<std::string> tags;
  std::string data_dir;
  std::string created_at;
};

/// A store: its id, status (starting, running, stopping, unavailable) and
/// config.
struct store_info {
  std::string store;
  std::string status;
  store_config config;
};

/// The result of append_events.
struct append_result {
  /// The stream's last event_number after the append (-1: no events).
  int64_t version = -1;
  /// The last appended event's position; empty when nothing was appended.
  std::optional<int64_t> position;
};

/// Which way a read goes.
enum class direction { forward, backward };

/// get_events' optional params; unset ones take the protocol's defaults.
struct read_options {
  std::optional<int64_t> start;
  std::optional<int64_t> count;
  direction dir = direction::forward;
};

/// read_all's optional params.
struct read_all_options {
  std::optional<int64_t> from_position;
  std::optional<int64_t> count;
  direction dir = direction::forward;
};

/// A page of read_all.
struct read_all_result {
  std::vector<recorded_event> events;
  /// Where the next read continues; empty (null) backward at position 0.
  std::optional<int64_t> next_position;
};

/// A page of get_streams.
struct streams_page {
  std::vector<std::string> streams;
  /// The cursor for the next page; empty at the end.
  std::optional<std::string> next_after;
};

/// A snapshot. record_snapshot sends the first six fields; the node adds
/// `created` and `created_epoch`.
struct snapshot {
  std::string source_uuid;
  std::string stream_uuid;
  int64_t version = 0;
  nlohmann::json data;
  nlohmann::json metadata = nullptr;
  std::optional<std::string> source_type;
  std::string created;
  int64_t created_epoch = 0;
};

/// One subscription of get_subscriptions.
struct subscription_info {
  std::string subscription;
  std::string name;
  std::string type;
  /// A string (stream id or event type) or an object (patterns).
  nlohmann::json selector;
  bool persistent = false;
  int64_t checkpoint = -1;
  int64_t subscribers = 0;
  int64_t lag = 0;
};

/// save_subscription's params (protocol section 7); unset ones take the
/// protocol's defaults.
struct subscription_request {
  /// by_stream, by_event_type, by_event_pattern or by_event_payload.
  std::string type = "by_stream";
  /// by_stream: "$all" or a stream id; by_event_type: an event type;
  /// by_event_pattern and by_event_payload: a JSON object.
  nlohmann::json selector = "$all";
  /// "transient" (the subscription lives as long as its receiver), or the
  /// name of a persistent subscription.
  std::string name = "transient";
  /// "origin", "current" or a position; null: "current".
  nlohmann::json start_from = nullptr;
  /// Events outstanding per subscriber, 1..10000; unset: 256.
  std::optional<int64_t> max_in_flight;
};

/// The result of save_subscription.
struct subscribe_result {
  /// The id to unsubscribe and ack with: `transient-<n>`, or the name of a
  /// persistent subscription.
  std::string subscription;
  /// The last acknowledged position (-1: none); for a transient
  /// subscription, the position before its start.
  int64_t checkpoint = -1;
};

/// The answer of health.
struct health_info {
  std::string status;
  std::string node;
};

/// cluster_status: one node of the cluster.
struct cluster_node {
  std::string name;
  std::string address;
  /// up or down.
  std::string status;
  bool self = false;
};

/// cluster_status: one store's Raft group.
struct cluster_store {
  /// Empty (null) while the group has no leader.
  std::optional<std::string> leader;
  std::vector<std::string> members;
  int64_t term = 0;
  int64_t commit_index = 0;
};

/// The answer of cluster_status.
struct cluster_status_info {
  std::string node;
  std::vector<cluster_node> nodes;
  std::map<std::string, cluster_store> stores;
};

// The protocol's JSON form of each value (nlohmann's to_json/from_json), so
// results can be compared with, or built from, JSON-RPC answers.
void to_json(nlohmann::json& j, const recorded_event& x);
void from_json(const nlohmann::json& j, recorded_event& x);
void to_json(nlohmann::json& j, const event_data& x);
void to_json(nlohmann::json& j, const store_settings& x);
void to_json(nlohmann::json& j, const store_config& x);
void from_json(const nlohmann::json& j, store_config& x);
void to_json(nlohmann::json& j, const store_info& x);
void from_json(const nlohmann::json& j, store_info& x);
void to_json(nlohmann::json& j, const append_result& x);
void from_json(const nlohmann::json& j, append_result& x);
void to_json(nlohmann::json& j, const read_all_result& x);
void from_json(const nlohmann::json& j, read_all_result& x);
void to_json(nlohmann::json& j, const streams_page& x);
void from_json(const nlohmann::json& j, streams_page& x);
void to_json(nlohmann::json& j, const snapshot& x);
void from_json(const nlohmann::json& j, snapshot& x);
void to_json(nlohmann::json& j, const subscription_info& x);
void from_json(const nlohmann::json& j, subscription_info& x);
void to_json(nlohmann::json& j, const subscription_request& x);
void to_json(nlohmann::json& j, const subscribe_result& x);
void from_json(const nlohmann::json& j, subscribe_result& x);
void to_json(nlohmann::json& j, const health_info& x);
void from_json(const nlohmann::json& j, health_info& x);
void to_json(nlohmann::json& j, const cluster_node& x);
void from_json(const nlohmann::json& j, cluster_node& x);
void to_json(nlohmann::json& j, const cluster_store& x);
void from_json(const nlohmann::json& j, cluster_store& x);
void to_json(nlohmann::json& j, const cluster_status_info& x);
void from_json(const nlohmann::json& j, cluster_status_info& x);

// -- the client ---------------------------------------------------------------

class relay_registry;

/// How a client waits.
struct client_options {
  /// How long a call waits for its answer before it fails with `timeout`.
  std::chrono::milliseconds call_timeout = call_timeout_default;
  static constexpr std::chrono::milliseconds call_timeout_default{30000};

  /// How long connect waits for the CAF handshake before it fails with
  /// `unavailable`.
  std::chrono::milliseconds connect_timeout = connect_timeout_default;
  static constexpr std::chrono::milliseconds connect_timeout_default{10000};

  /// A token of the node's auth file: `connect` calls `authenticate` with
  /// it once connected and fails with the node's `unauthorized` when it is
  /// refused (the token is never part of an error). The sign-in holds for
  /// every call from this process's actor system. Empty: no authenticate.
  std::string token;

  /// Connect through CAF's OpenSSL module, to a node started with
  /// --cluster-tls-*: the actor system's config must have been given a
  /// certificate the node's CA signed (`enable_tls`).
  bool tls = false;
};

/// Loads CAF's OpenSSL module into `cfg` with this process's certificate,
/// its key and the CA that signed the nodes' certificates (PEM files, as
/// the node's --cluster-tls-cert, --cluster-tls-key, --cluster-tls-ca).
/// Call before constructing the actor system; then connect with
/// `client_options::tls`. CAF reads the files at each connection: check
/// them first (`openssl verify -CAfile ca.pem cert.pem`).
void enable_tls(caf::actor_system_config& cfg, const std::string& cert_file,
                const std::string& key_file, const std::string& ca_file);

/// A connection to one node's API actor. Every call blocks the calling
/// thread until the node answers, the call times out or the connection
/// fails, so do not call it from inside an actor (it would block one of
/// CAF's scheduler threads). Thread-safe: each call runs in its own
/// short-lived actor.
///
/// `store` is the first parameter of every store-bound call; an empty string
/// leaves it out, so the node uses its default store.
///
/// Results are `caf::expected<T>`; errors are described at `errc`.
class client {
public:
  /// Connects to the API actor published on host:port. Blocks until the
  /// middleman's handshake is done, failed (a refused connection fails at
  /// once) or timed out; every failure is `unavailable`. The actor system
  /// must have loaded the middleman (`cfg.load<caf::io::middleman>()`),
  /// and for `opts.tls` the OpenSSL module (`enable_tls`). With
  /// `opts.token`, then authenticates.
  static caf::expected<client> connect(caf::actor_system& sys,
                                       const std::string& host, uint16_t port,
                                       client_options opts = {});

  /// Calls any method with params as JSON (an object); the result is the
  /// method's result as JSON-RPC returns it.
  caf::expected<nlohmann::json>
  call(const std::string& method,
       const nlohmann::json& params = nlohmann::json::object()) const;

  /// Calls any method with params as JSON text, sent as it is.
  caf::expected<std::string> call_text(const std::string& method,
                                       const std::string& params) const;

  // -- stores ---------------------------------------------------------------

  caf::expected<store_info> create_store(const std::string& store,
                                         const store_settings& config
                                         = {}) const;

  caf::expected<void> remove_store(const std::string& store) const;

  /// Every store by id.
  caf::expected<std::map<std::string, store_info>> list_stores() const;

  /// starting, running, stopping or unavailable.
  caf::expected<std::string> get_store_status(const std::string& store) const;

  caf::expected<store_config> get_store_config(const std::string& store) const;

  // -- streams --------------------------------------------------------------

  caf::expected<append_result>
  append_events(const std::string& store, const std::string& stream,
                expected_version expected,
                const std::vector<event_data>& events) const;

  caf::expected<std::vector<recorded_event>>
  get_events(const std::string& store, const std::string& stream,
             const read_options& opts = {}) const;

  /// The stream's last event_number; -1 when it has no events.
  caf::expected<int64_t> get_version(const std::string& store,
                                     const std::string& stream) const;

  caf::expected<streams_page>
  get_streams(const std::string& store,
              const std::optional<std::string>& after = std::nullopt,
              std::optional<int64_t> limit = std::nullopt) const;

  caf::expected<read_all_result>
  read_all(const std::string& store, const read_all_options& opts = {}) const;

  // -- snapshots ------------------------------------------------------------

  caf::expected<void> record_snapshot(const std::string& store,
                                      const snapshot& snap) const;

  /// The snapshot with this key; without `version`, the latest.
  caf::expected<snapshot>
  read_snapshot(const std::string& store, const std::string& source_uuid,
                const std::string& stream_uuid,
                std::optional<int64_t> version = std::nullopt) const;

  caf::expected<void> delete_snapshot(const std::string& store,
                                      const std::string& source_uuid,
                                      const std::string& stream_uuid,
                                      int64_t version) const;

  caf::expected<std::vector<snapshot>>
  list_snapshots(const std::string& store,
                 const std::optional<std::string>& source_uuid = std::nullopt,
                 const std::optional<std::string>& stream_uuid
                 = std::nullopt) const;

  // -- subscriptions ----------------------------------------------------------

  /// Makes `receiver`, an actor of the caller's actor system, a subscriber
  /// (save_subscription). It receives, in position order:
  ///
  /// - `(event_atom, std::string store, std::string subscription,
  ///   std::string event)` as a request: `event` is the JSON text of the
  ///   protocol's event object
  ///   (`nlohmann::json::parse(event).get<recorded_event>()`), `store` the
  ///   store as named here. Answer it when done with the event (a handler
  ///   that returns void answers at once; a response promise answers
  ///   later): at most `max_in_flight` events are unanswered, so a slow
  ///   receiver holds back delivery instead of filling its mailbox. The
  ///   answer is no ack.
  /// - `(dropped_atom, std::string store, std::string subscription,
  ///   std::string reason)`: the subscription ended unasked (slow_consumer,
  ///   removed, store_stopped, or unavailable: the store failed, the node
  ///   stopped or the connection to it was lost). No event follows.
  ///
  /// The atoms are `cxesdb::actors::event_atom` and `dropped_atom`
  /// (actors/type_ids.hpp). The subscription ends when `receiver` goes
  /// down; a persistent one's unacknowledged events then go to its other
  /// subscribers, or come again to the next one. A client holds one
  /// subscriber per subscription at a time (as one JSON-RPC connection
  /// does): subscribing again to a persistent subscription it receives is
  /// `already_exists`.
  caf::expected<subscribe_result> subscribe(const std::string& store,
                                            const subscription_request& req,
                                            caf::actor receiver) const;

  /// Ends a subscription of this client; its receiver gets nothing more.
  caf::expected<void> unsubscribe(const std::string& store,
                                  const std::string& subscription) const;

  /// Acknowledges every event of a persistent subscription this client
  /// received up to `position` (ack_event); answers the checkpoint once it
  /// is stored. From inside the receiver, ack without blocking instead: a
  /// request `(ack_atom, int64_t position)` to the sender of the event (the
  /// subscription's relay) answers the checkpoint.
  caf::expected<int64_t> ack(const std::string& store,
                             const std::string& subscription,
                             int64_t position) const;

  caf::expected<std::vector<subscription_info>>
  get_subscriptions(const std::string& store) const;

  /// Removes a persistent subscription (type, selector, name).
  caf::expected<void> remove_subscription(const std::string& store,
                                          const std::string& type,
                                          const nlohmann::json& selector,
                                          const std::string& name) const;

  // -- node and cluster -----------------------------------------------------

  caf::expected<health_info> health() const;

  caf::expected<cluster_status_info> cluster_status() const;

  /// The API actor this client talks to.
  const api_actor& handle() const noexcept {
    return api_;
  }

private:
  client(caf::actor_system& sys, api_actor api,
         std::chrono::milliseconds call_timeout);

  caf::actor_system* sys_;
  api_actor api_;
  std::chrono::milliseconds call_timeout_;
  /// The relays of this client's subscriptions (gateway/relay.hpp).
  std::shared_ptr<relay_registry> relays_;
};

} // namespace cxesdb::gateway
