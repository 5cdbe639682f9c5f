#pragma once

#include <optional>
#include <string>

#include "stores/types.hpp"

namespace cxesdb::stores {

/// Encodes a command as the bytes of a log entry: a version byte, a tag byte,
/// then the fields as length-prefixed strings and fixed-width integers.
std::string encode(const command& cmd);

/// Decodes what `encode` produced; nothing when the bytes are not a command
/// of this format (a corrupt or foreign entry).
std::optional<command> decode(const std::string& bytes);

} // namespace cxesdb::stores
