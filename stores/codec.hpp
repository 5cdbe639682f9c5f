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

// What crosses the network when a node routes a request to the node of the
// store's leader: the query and the outcomes, as bytes of the same format.

std::string encode(const query& q);
std::optional<query> decode_query(const std::string& bytes);

std::string encode(const command_result& r);
std::optional<command_result> decode_command_result(const std::string& bytes);

std::string encode(const query_result& r);
std::optional<query_result> decode_query_result(const std::string& bytes);

} // namespace cxesdb::stores
