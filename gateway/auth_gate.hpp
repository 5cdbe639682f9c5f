#pragma once

#include <cstddef>
#include <memory>
#include <string>

namespace cxesdb::gateway {

class auth_registry;

/// The authentication state of one client connection, kept by the client
/// port's IO thread (one object per connection, touched by that thread
/// only). It answers `authenticate` itself, in the order the messages came,
/// so that a request pipelined right behind `authenticate` already runs as
/// the new user; everything else goes on to the gateway with the
/// connection's principal, where the policy (gateway/auth.hpp) decides per
/// call. Never blocks: hashing a token and looking it up are all it does.
class auth_gate {
public:
  /// Longest message a connection may send before it authenticated; a
  /// longer one is answered `unauthorized` without being parsed (only
  /// `health` and `authenticate` are allowed then, and both are short).
  static constexpr size_t unauthenticated_message_bytes_max = 64u << 10;

  /// Failed `authenticate` calls after which the connection is closed.
  static constexpr size_t failures_max = 5;

  explicit auth_gate(std::shared_ptr<const auth_registry> registry);

  /// What to do with one message.
  struct outcome {
    enum kind_t {
      /// Hand the message to the gateway with `principal()`.
      forward,
      /// The gate answered it: write `text` (empty for a notification).
      answer,
      /// Write `text`, then close the connection (the last failure).
      answer_and_close,
    };
    kind_t kind = forward;
    std::string text;
  };

  /// Decides about one complete message (a line without its `\n`).
  outcome on_line(const std::string& line);

  /// The SHA-256 digest (32 raw bytes) of the token the connection
  /// authenticated with; empty before.
  const std::string& principal() const noexcept {
    return principal_;
  }

  /// Failed `authenticate` calls so far.
  size_t failures() const noexcept {
    return failures_;
  }

private:
  std::shared_ptr<const auth_registry> registry_;
  std::string principal_;
  size_t failures_ = 0;
};

} // namespace cxesdb::gateway
