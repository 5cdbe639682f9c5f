#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace cxesdb::gateway {

/// The SHA-256 digest of a token, 32 raw bytes. The only form in which the
/// node keeps a token (protocol section 8).
using token_digest = std::array<uint8_t, 32>;

/// The SHA-256 digest of `token` (OpenSSL's libcrypto).
token_digest sha256(const std::string& token);

/// The digest as 64 lower-case hex digits.
std::string to_hex(const token_digest& d);

/// Whether `token` has the shape section 8 allows: 16 to 256 printable
/// ASCII bytes (0x20 to 0x7e). Anything else is refused before it is hashed.
bool valid_token(const std::string& token);

/// What a user may do with one store.
enum class store_role : uint8_t { none, reader, writer };

/// One user of the auth file.
struct auth_user {
  std::string name;
  token_digest token_sha256{};
  /// `role: "admin"`: may do everything; `stores` is then empty.
  bool admin = false;
  /// Store id (or "*", every store) -> role. An exact id wins over "*".
  std::map<std::string, store_role> stores;

  /// The role this user has on `store` (admins: writer on every store).
  store_role role_on(const std::string& store) const;
};

/// The users of one version of the auth file.
class auth_table {
public:
  /// Limits of the file (a node reads it at start-up and on SIGHUP).
  static constexpr size_t file_bytes_max = 16u << 20;
  static constexpr size_t users_max = 100000;
  static constexpr size_t stores_per_user_max = 100000;
  static constexpr size_t user_name_bytes_max = 255;

  /// Parses the auth file's text (protocol section 8):
  /// `{"users":[{"name","token_sha256","role"|"stores"}]}`. Unknown keys,
  /// a bad digest, an unknown role, two users with one name or one token
  /// digest are errors. Returns false and a message naming what is wrong
  /// (never a digest) in `err`.
  static bool parse(const std::string& text, auth_table& out, std::string& err);

  /// The user whose token has this digest, or null. Compares `token` with
  /// every user's digest in constant time (no early exit), so that the
  /// answer's timing says nothing about how close a guess came.
  const auth_user* authenticate(const std::string& token) const;

  /// The user whose token digest is `digest` (32 raw bytes, as a
  /// connection keeps it after authenticating), or null: the user was
  /// removed or its token changed since. A hash lookup.
  const auth_user* find(const std::string& digest) const;

  const std::vector<auth_user>& users() const noexcept {
    return users_;
  }

private:
  std::vector<auth_user> users_;
  /// digest (32 raw bytes) -> index in users_
  std::unordered_map<std::string, size_t> by_digest_;
};

/// How much a method needs (protocol section 8).
enum class method_class : uint8_t {
  /// health, authenticate: answered before authentication.
  open,
  /// Any authenticated user: list_stores, cluster_status.
  any_user,
  /// A reader of the call's store: reads, stream listing, store status and
  /// config, snapshots read/list, subscriptions and their acks.
  reader,
  /// A writer of the call's store: appends, stream deletion, truncation and
  /// metadata, snapshots recorded and deleted.
  writer,
  /// Admins only: creating, removing, backing up and restoring stores,
  /// list_backups, leave_cluster, scavenge_store, and any method this table
  /// does not name (a method added later is closed until it is classified).
  admin,
};

/// The class of a protocol method, by its name.
method_class classify(const std::string& method);

/// What the node does with one call.
enum class verdict : uint8_t { allowed, unauthorized, forbidden };

/// The policy: may `user` (null: the connection has not authenticated, or
/// its user is gone) call `method` on `store`? Pure.
verdict authorize(const auth_user* user, const std::string& method,
                  const std::string& store);

/// `authenticate`'s result for `user`:
/// `{"authenticated":true,"user","role","stores"}` with role "admin" or
/// "user" and the user's store map ({} for admins).
std::string authenticate_result(const auth_user& user);

/// The auth file of a running node: the current table, replaced as a whole
/// when the file is reloaded (SIGHUP). Thread-safe; readers take a
/// reference to one version and keep it while they use it.
class auth_registry {
public:
  explicit auth_registry(std::string path);

  /// Reads and parses the file. On an error the current table stays (a bad
  /// edit does not lock everyone out or let everyone in) and `err` says
  /// why. Blocks (file IO): call it from the main thread.
  bool load(std::string& err);

  /// The current table; never null after a successful `load`.
  std::shared_ptr<const auth_table> current() const;

  const std::string& path() const noexcept {
    return path_;
  }

private:
  const std::string path_;
  mutable std::mutex mtx_;
  std::shared_ptr<const auth_table> table_;
};

} // namespace cxesdb::gateway
