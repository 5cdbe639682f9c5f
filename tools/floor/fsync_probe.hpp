#pragma once

#include <cstdint>
#include <string>

#include "tools/bench/histogram.hpp"

namespace cxesdb::tools {

/// What the fdatasync probe measured in one mode.
struct fsync_result {
  /// "append" grows the file each write; "overwrite" rewrites blocks that
  /// already exist (no size change, as a recycled WAL file).
  std::string mode;
  uint64_t writes = 0;
  double seconds = 0;
  histogram latency;
};

/// How the fdatasync probe runs.
struct fsync_options {
  /// Directory the probe file is made in.
  std::string dir;
  /// Bytes written before each fdatasync.
  size_t block_bytes = 4096;
  /// Seconds per mode.
  double seconds = 3;
  /// Most writes per mode, whatever the time.
  uint64_t writes_max = 100000;
};

/// Writes `block_bytes` and calls fdatasync, again and again, timing each
/// write+sync pair: the cost of one durable acknowledgement on this disk.
/// Throws std::runtime_error when the file cannot be written.
fsync_result probe_fsync(const fsync_options& opts, bool overwrite);

/// Name of the filesystem holding `path` (from statfs), e.g. "ext4",
/// "tmpfs", or its magic number in hex when unknown.
std::string filesystem_of(const std::string& path);

} // namespace cxesdb::tools
