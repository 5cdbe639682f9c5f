#pragma once

#include <optional>
#include <string>

#include "actors/raft/types.hpp"

namespace cxesdb::actors::raft {

/// Encodes a message as bytes, so that shells can send it to local or
/// remote actors without registering types.
std::string encode(const message& m);

/// Decodes bytes from `encode`; nullopt when they are malformed (a peer's
/// bytes are input, not trusted).
std::optional<message> decode_message(const std::string& bytes);

/// Encodes a membership (for storage).
std::string encode(const conf_state& c);

/// Decodes a membership from `encode`.
std::optional<conf_state> decode_conf_state(const std::string& bytes);

} // namespace cxesdb::actors::raft
