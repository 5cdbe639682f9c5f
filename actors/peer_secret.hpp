#pragma once

#include <cstddef>
#include <string>

namespace cxesdb::actors {

/// The cluster secret (--cluster-secret-file, protocol section 8) and the
/// proofs two registries exchange with it before either counts the other a
/// member. Pure: OpenSSL's HMAC-SHA-256 and random bytes, no CAF.
///
/// The exchange, when registry A reaches registry B (actors/registry.cpp):
///
/// 1. A sends a fresh nonce `na`; B answers a fresh nonce `nb` and
///    `proof(answer, na, nb, "", "")`: B holds the secret.
/// 2. A checks it, then sends its hello with `nb` and
///    `proof(hello, nb, na, A's name, A's address)`: A holds the secret.
///
/// Each side's proof covers the other side's fresh nonce, so a recorded
/// proof is worth nothing later. Without a secret every proof is empty and
/// only an empty proof is accepted: a node with a secret and one without
/// refuse each other, as do nodes with different secrets.
class peer_secret {
public:
  /// Bytes of a nonce (random, from OpenSSL's generator).
  static constexpr size_t nonce_bytes = 32;
  /// Shortest and longest secret, in bytes (`openssl rand -hex 32` gives 64).
  static constexpr size_t secret_bytes_min = 16;
  static constexpr size_t secret_bytes_max = 4096;

  /// Which side of the exchange a proof is for; part of what is signed, so
  /// that one side's proof never passes as the other's.
  enum class role { answer, hello };

  /// No secret: proofs are empty.
  peer_secret() = default;

  /// Reads the secret from `path`: the file's bytes without trailing
  /// whitespace (a final newline), `secret_bytes_min` to
  /// `secret_bytes_max` of them. False with a reason in `err` (naming the
  /// file, never its content) when it cannot.
  bool load(const std::string& path, std::string& err);

  /// Uses `secret` as it is (tests); false when its length is out of range.
  bool set(std::string secret);

  bool enabled() const noexcept {
    return !secret_.empty();
  }

  /// A fresh random nonce of `nonce_bytes` bytes.
  static std::string make_nonce();

  /// The proof of `r` over the peer's nonce, one's own nonce, and (for a
  /// hello) one's name and address; empty without a secret.
  std::string proof(role r, const std::string& their_nonce,
                    const std::string& my_nonce, const std::string& name,
                    const std::string& address) const;

  /// Whether `given` equals `proof(r, ...)` of the same inputs, as the
  /// other side passed them (its peer's nonce, i.e. this side's, first).
  /// Compared in constant time.
  bool verify(const std::string& given, role r, const std::string& their_nonce,
              const std::string& my_nonce, const std::string& name,
              const std::string& address) const;

private:
  std::string secret_;
};

} // namespace cxesdb::actors
