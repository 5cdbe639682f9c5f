#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace cxesdb::tests {

/// One row of a replica's `events` table, the columns the history checker
/// needs (stores/state_machine.cpp has the schema).
struct replica_row {
  int64_t position = 0;
  std::string stream_id;
  int64_t event_number = 0;
  std::string event_id;

  bool operator==(const replica_row& other) const {
    return position == other.position && stream_id == other.stream_id
           && event_number == other.event_number
           && event_id == other.event_id;
  }

  bool operator!=(const replica_row& other) const {
    return !(*this == other);
  }
};

/// `row` as `#position stream/number id`, for messages.
std::string to_string(const replica_row& row);

/// One append_events batch a test client sent, and what it learned.
struct sent_append {
  std::string stream;

  /// The batch's event ids, in order.
  std::vector<std::string> event_ids;

  /// True when the node answered success; `version` and `position` are then
  /// the answer's. False when the outcome is unknown (no answer, `timeout`,
  /// or the run ended before a retry succeeded): the batch may be written
  /// once, whole, or not at all.
  bool acked = false;

  /// The answer's `version`: the event_number of the batch's last event.
  int64_t version = -1;

  /// The answer's `position`: the position of the batch's last event.
  int64_t position = -1;
};

/// The rows of one replica of a store, named for messages.
struct replica_state {
  /// Names the replica in messages (e.g. the node name).
  std::string name;

  /// The replica's rows in position order.
  std::vector<replica_row> rows;

  /// True when the node was down and did not catch up: its rows may then be
  /// a prefix of the others' (and may miss acknowledged events). False:
  /// the replica must hold exactly the same rows as every other full one.
  bool may_lag = false;
};

/// What the history checker allows.
struct check_options {
  /// The position every replica starts at (protocol.md: positions count from
  /// 0); nothing: only "gapless from the replica's first row" is checked.
  std::optional<int64_t> first_position = 0;

  /// True: every row must belong to a sent append (the test wrote everything
  /// the store holds).
  bool only_sent_events = true;

  /// Problems reported at most; the rest are counted.
  size_t problems_max = 20;
};

/// The checker's verdict: the list of problems found, empty when the history
/// is sound.
struct check_report {
  std::vector<std::string> problems;

  /// Problems found beyond `check_options::problems_max`.
  size_t problems_dropped = 0;

  bool ok() const noexcept {
    return problems.empty();
  }

  /// "ok", or every problem on its own line, for a failure message.
  std::string message() const;
};

/// Checks the replicas of one store against what the clients were told, the
/// promises of protocol.md sections 4 and 6:
///
/// - every replica: positions strictly increasing and gapless from
///   `first_position` (or its first row); per stream, event numbers gapless
///   from 0 in position order; no event id twice in a stream;
/// - every full replica (not `may_lag`) holds the same rows in the same order;
///   a lagging replica holds a prefix of them;
/// - every acknowledged event is in every full replica exactly once, its
///   batch with consecutive event numbers in the order sent, the last one
///   at the acknowledged `version` and `position` (a lagging replica may
///   miss it, but where it has it, the same holds);
/// - a batch with an unknown outcome is in a replica whole or not at all;
/// - with `only_sent_events`, no replica holds an event nobody sent.
///
/// Pure: no I/O, no test framework; the caller fails its test with
/// `message()`.
check_report check_history(const std::vector<sent_append>& sent,
                           const std::vector<replica_state>& replicas,
                           const check_options& opts = {});

} // namespace cxesdb::tests
