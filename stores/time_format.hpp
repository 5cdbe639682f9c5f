#pragma once

#include <cstdint>
#include <string>

namespace cxesdb::stores {

/// Microseconds since 1970 (UTC) from the system clock.
int64_t now_epoch_us();

/// Formats microseconds since 1970 as `2026-11-25T23:59:59.123456Z`.
std::string format_iso8601_us(int64_t epoch_us);

} // namespace cxesdb::stores
