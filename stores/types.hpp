#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace cxesdb::stores {

/// The limits of a store's data model, shared by the gateway (which checks
/// requests against them) and the state machine (which asserts them).
struct limits {
  /// Most events in one append_events batch.
  static constexpr size_t batch_events_max = 10000;

  /// Default bound of one event's encoded size (flag --max-event-bytes).
  static constexpr size_t event_bytes_default = 1u << 20;

  /// Longest stream id, in bytes.
  static constexpr size_t stream_id_bytes_max = 1024;

  /// Longest event type, in bytes.
  static constexpr size_t event_type_bytes_max = 255;

  /// Longest snapshot source or stream uuid, in bytes.
  static constexpr size_t snapshot_key_bytes_max = 1024;

  /// Most events one read returns (get_events, read_all).
  static constexpr int64_t read_count_max = 10000;

  /// Default number of events one read returns.
  static constexpr int64_t read_count_default = 100;

  /// Most stream ids one get_streams page returns (and its default).
  static constexpr int64_t streams_page_max = 10000;

  /// Events one scavenge step deletes at most, and free pages it returns
  /// to the filesystem at most: small enough that an append waits for a
  /// step a few milliseconds at most.
  static constexpr int64_t scavenge_rows_per_step = 500;
  static constexpr int64_t scavenge_pages_per_step = 256;

  /// Longest `max_age_s` of a stream's metadata: 100 years.
  static constexpr int64_t max_age_s_max = 100LL * 365 * 24 * 3600;
};

/// An event as a client proposes it, after the gateway validated it.
/// `data` and `metadata` hold JSON text exactly as the node will return it.
struct event_input {
  std::string event_id; ///< canonical lower-case UUID text
  std::string event_type;
  std::string data;     ///< JSON text (a base64 JSON string for binary)
  std::string metadata; ///< JSON text, "null" when absent
  std::string content_type;
};

/// An event as it is stored and returned.
struct recorded_event {
  std::string stream_id;
  int64_t event_number = 0;
  int64_t position = 0;
  std::string event_id;
  std::string event_type;
  std::string data;
  std::string metadata;
  std::string content_type;
  int64_t created_epoch_us = 0;
};

/// A snapshot as it is stored and returned.
struct snapshot_record {
  std::string source_uuid;
  std::string stream_uuid;
  int64_t version = 0;
  std::string source_type; ///< JSON text: a string or null
  std::string data;        ///< JSON text
  std::string metadata;    ///< JSON text, "null" when absent
  int64_t created_epoch_us = 0;
};

/// The optimistic concurrency condition of an append.
struct expected_version {
  enum kind_t : uint8_t { any, no_stream, stream_exists, exact };
  kind_t kind = any;
  int64_t value = -1; ///< the version for `exact` (>= 0)
};

// -- commands: every change to a store, as a plain value ----------------------

/// Appends a batch of events to one stream, atomically.
struct append_cmd {
  std::string stream;
  expected_version expected;
  std::vector<event_input> events;
  int64_t created_epoch_us = 0; ///< chosen once, when the node accepted it
};

/// Records (or replaces) a snapshot.
struct record_snapshot_cmd {
  snapshot_record snapshot;
};

/// Deletes one snapshot.
struct delete_snapshot_cmd {
  std::string source_uuid;
  std::string stream_uuid;
  int64_t version = 0;
};

/// Where a new subscription starts.
struct start_from {
  enum kind_t : uint8_t { origin, current, position };
  kind_t kind = current;
  int64_t value = 0; ///< the first position for `position`
};

/// Creates a persistent subscription, or finds it: an existing one with the
/// same name, type and selector is returned as it is (with its checkpoint);
/// one with the same name and another type or selector is `already_exists`.
/// `current` is decided when the command is applied, so every replica agrees.
struct save_subscription_cmd {
  std::string name;
  std::string type;     ///< by_stream, by_event_type, ...
  std::string selector; ///< JSON text
  start_from start;
};

/// Moves a persistent subscription's checkpoint forward (never back).
struct checkpoint_cmd {
  std::string name;
  int64_t checkpoint = -1; ///< the last position acknowledged in order
};

/// Removes a persistent subscription with that name, type and selector.
struct remove_subscription_cmd {
  std::string name;
  std::string type;
  std::string selector;
};

/// Deletes a stream. Soft: it reads as a stream without events until an
/// append recreates it (numbered after the deleted events). Hard: it is gone
/// for good, and so are its snapshots (those whose stream_uuid is its id).
/// `expected` is checked against the version reads show (-1 once soft
/// deleted). Deleting a stream already deleted the same way succeeds again
/// with the same version (an idempotent retry).
struct delete_stream_cmd {
  std::string stream;
  expected_version expected;
  bool hard = false;
};

/// Hides the events of a stream numbered below `before` (>= 0). Never moves
/// the stream's first readable event back.
struct truncate_stream_cmd {
  std::string stream;
  int64_t before = 0;
};

/// A stream's retention and custom metadata, as set_stream_metadata sets
/// it as a whole.
struct stream_metadata {
  int64_t max_count = 0;    ///< keep the newest N events; 0 = no limit
  int64_t max_age_s = 0;    ///< hide events older than this; 0 = no limit
  std::string custom = "null"; ///< JSON text: an object, or null
};

/// Replaces a stream's metadata and applies its limits at once: `max_count`
/// and `max_age_s` (against `now_epoch_us`, the leader's clock when it
/// accepted the command, never the replica's) move the stream's first
/// readable event forward.
struct set_stream_metadata_cmd {
  std::string stream;
  stream_metadata metadata;
  int64_t now_epoch_us = 0;
};

/// One step of a scavenge. Deletes from the disk up to `rows_max` events no
/// read shows any more (of deleted and truncated streams, and past their
/// limits), lowest stream ids first, then returns up to `pages_max` free
/// pages to the filesystem (a store made with auto_vacuum=INCREMENTAL; the
/// free pages of an older store are reused by later appends). With
/// `expire`, first removes what the streams' max_age_s remove at
/// `now_epoch_us` (the leader's clock). The store's last event always stays
/// on the disk: positions continue after it. A scavenge is a series of these
/// steps, each small, so that appends interleave with it; every replica
/// deletes the same events.
struct scavenge_cmd {
  int64_t rows_max = 0;
  int64_t pages_max = 0;
  bool expire = false;
  int64_t now_epoch_us = 0;
};

/// A log entry that changes nothing but the applied index: a new leader's
/// first entry, a membership change, or an entry that is not a command.
struct noop_cmd {};

/// A change to a store. Commands are applied one at a time, in log order, and
/// their outcome depends only on the store's state and the command itself.
using command = std::variant<append_cmd, record_snapshot_cmd,
                             delete_snapshot_cmd, save_subscription_cmd,
                             checkpoint_cmd, remove_subscription_cmd,
                             noop_cmd, delete_stream_cmd, truncate_stream_cmd,
                             set_stream_metadata_cmd, scavenge_cmd>;

/// The domain outcome of applying a command.
enum class result_code : uint8_t {
  ok,
  wrong_expected_version,
  duplicate_event,
  not_found,
  already_exists,
  /// Storage failed (disk full, I/O error): nothing of the command was
  /// written; safe to retry.
  storage_failed,
  /// The stream was hard deleted: it can never be written or read again.
  stream_deleted,
};

/// What applying a command produced.
struct command_result {
  result_code code = result_code::ok;
  int64_t version = -1;         ///< the stream's version after an append
  int64_t position = -1;        ///< last appended position, -1 = none
  int64_t current_version = -1; ///< with wrong_expected_version
  int64_t checkpoint = -1;      ///< a subscription's, after subscription commands
  int64_t appended = 0;         ///< events this append wrote (0 for a retry)
  int64_t first = -1;           ///< the stream's first readable event number
                                ///< after truncate_stream
  int64_t removed = 0;          ///< events a scavenge step deleted
  int64_t reclaimed_bytes = 0;  ///< bytes it returned to the filesystem
  bool more = false;            ///< a scavenge step left work for another
  std::string message;          ///< with storage_failed
};

// -- queries: reads, served from a read-only connection ------------------------

/// Events of one stream, forward or backward.
struct read_stream_query {
  std::string stream;
  int64_t start = -1; ///< -1: 0 forward, the last event backward
  int64_t count = limits::read_count_default;
  bool backward = false;
  /// The clock `max_age_s` hides events against, microseconds since 1970;
  /// 0: the reading node's clock when the query runs.
  int64_t now_epoch_us = 0;
};

/// The version of one stream.
struct stream_version_query {
  std::string stream;
};

/// A page of stream ids in byte order.
struct list_streams_query {
  bool has_after = false;
  std::string after;
  int64_t limit = limits::streams_page_max;
};

/// Events of every stream in position order.
struct read_all_query {
  int64_t from = -1; ///< -1: 0 forward, the last position backward
  int64_t count = limits::read_count_default;
  bool backward = false;
  std::string stream; ///< only this stream's events when not empty
  /// As in read_stream_query.
  int64_t now_epoch_us = 0;
};

/// The metadata of one stream.
struct stream_metadata_query {
  std::string stream;
};

/// One snapshot; version -1 reads the latest.
struct read_snapshot_query {
  std::string source_uuid;
  std::string stream_uuid;
  int64_t version = -1;
};

/// Snapshots filtered by source and stream (empty = any).
struct list_snapshots_query {
  std::string source_uuid;
  std::string stream_uuid;
};

/// The persistent subscriptions of a store.
struct list_subscriptions_query {};

/// The store's figures for get_store_status: its counts, last position and
/// applied index, and the size of its database files on the answering node.
struct store_figures_query {};

/// A persistent subscription as the store keeps it.
struct subscription_record {
  std::string name;
  std::string type;
  std::string selector; ///< JSON text
  int64_t checkpoint = -1;
};

/// A read of a store.
using query = std::variant<read_stream_query, stream_version_query,
                           list_streams_query, read_all_query,
                           read_snapshot_query, list_snapshots_query,
                           list_subscriptions_query, stream_metadata_query,
                           store_figures_query>;

/// What store_figures_query reads: the counts of state_machine::figures(),
/// the bytes of store.db and its WAL (store_disk_bytes), the applied index.
struct store_figures_result {
  int64_t events = 0;
  int64_t streams = 0;
  int64_t bytes = 0;
  int64_t applied_index = 0;
};

/// What a query produced. Which fields are set depends on the query.
struct query_result {
  result_code code = result_code::ok;
  std::vector<recorded_event> events;
  std::vector<std::string> streams;
  std::vector<snapshot_record> snapshots;
  std::vector<subscription_record> subscriptions;
  stream_metadata metadata; ///< stream_metadata_query
  int64_t version = -1;
  int64_t head_position = -1; ///< the store's last position (read_all,
                              ///< store_figures_query)
  store_figures_result figures; ///< store_figures_query
  bool has_next = false;  ///< next_position / next_after is not null
  int64_t next_position = -1;
  std::string next_after;
  std::string message; ///< with storage_failed
};

} // namespace cxesdb::stores
