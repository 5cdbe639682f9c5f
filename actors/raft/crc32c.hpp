#pragma once

#include <cstddef>
#include <cstdint>

namespace cxesdb::actors::raft {

/// CRC-32C (Castagnoli, as in iSCSI, ext4 and LevelDB's log) of `n` bytes,
/// continuing from `crc` (0 to start).
uint32_t crc32c(const void* data, size_t n, uint32_t crc = 0);

} // namespace cxesdb::actors::raft
