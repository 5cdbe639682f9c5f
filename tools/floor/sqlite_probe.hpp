#pragma once

#include <cstdint>
#include <string>

#include "tools/bench/histogram.hpp"

namespace cxesdb::tools {

/// What the SQLite probe measured at one transaction size.
struct sqlite_result {
  uint64_t rows_per_txn = 0;
  uint64_t stream_run = 1;
  uint64_t transactions = 0;
  uint64_t rows = 0;
  double seconds = 0;
  /// Latency of one whole transaction (BEGIN .. COMMIT).
  histogram txn_latency;
};

/// How the SQLite probe runs.
struct sqlite_options {
  /// Directory the probe database is made in.
  std::string dir;
  /// Bytes of each row's data column.
  size_t payload_bytes = 256;
  /// Seconds per transaction size.
  double seconds = 3;
  /// Consecutive rows written to the same stream: 1 spreads every row over
  /// random streams (W1-like: each request its own stream); 100 writes
  /// runs of 100 events to one stream (W2-like), which touches far fewer
  /// index pages per transaction.
  uint64_t stream_run = 1;
};

/// Inserts rows into an events-like table (integer primary key, two unique
/// indexes on the stream) of a fresh database in WAL mode with
/// synchronous=FULL, `rows_per_txn` rows per transaction, for
/// `opts.seconds`: the rate the node's storage could reach at best with the
/// same durability. Throws std::runtime_error on an SQLite error.
sqlite_result probe_sqlite(const sqlite_options& opts, uint64_t rows_per_txn);

} // namespace cxesdb::tools
