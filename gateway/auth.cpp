#include "gateway/auth.hpp"

#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <unordered_set>

#include <nlohmann/json.hpp>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "actors/assert.hpp"

namespace cxesdb::gateway {

using nlohmann::json;

token_digest sha256(const std::string& token) {
  token_digest d{};
  unsigned int len = 0;
  // Fails only when out of memory or with a broken libcrypto.
  CXESDB_ASSERT(EVP_Digest(token.data(), token.size(), d.data(), &len,
                           EVP_sha256(), nullptr)
                == 1);
  CXESDB_ASSERT(len == d.size());
  return d;
}

std::string to_hex(const token_digest& d) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(d.size() * 2);
  for (auto b : d) {
    out += digits[b >> 4];
    out += digits[b & 0xf];
  }
  return out;
}

bool valid_token(const std::string& token) {
  if (token.size() < 16 || token.size() > 256)
    return false;
  for (auto c : token)
    if (c < 0x20 || c > 0x7e)
      return false;
  return true;
}

store_role auth_user::role_on(const std::string& store) const {
  if (admin)
    return store_role::writer;
  auto i = stores.find(store);
  if (i != stores.end())
    return i->second;
  i = stores.find("*");
  return i != stores.end() ? i->second : store_role::none;
}

namespace {

bool parse_hex(const std::string& text, token_digest& out) {
  if (text.size() != out.size() * 2)
    return false;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9')
      return c - '0';
    if (c >= 'a' && c <= 'f')
      return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
      return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < out.size(); ++i) {
    auto hi = nibble(text[2 * i]);
    auto lo = nibble(text[2 * i + 1]);
    if (hi < 0 || lo < 0)
      return false;
    out[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return true;
}

/// A store id or "*" (the pattern of protocol section 3).
bool valid_store_key(const std::string& s) {
  if (s == "*")
    return true;
  if (s.empty() || s.size() > 63 || !(s[0] >= 'a' && s[0] <= 'z'))
    return false;
  for (auto c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
      return false;
  return true;
}

std::string digest_key(const token_digest& d) {
  return std::string{reinterpret_cast<const char*>(d.data()), d.size()};
}

} // namespace

bool auth_table::parse(const std::string& text, auth_table& out,
                       std::string& err) {
  out = auth_table{};
  if (text.size() > file_bytes_max) {
    err = "the auth file is larger than " + std::to_string(file_bytes_max)
          + " bytes";
    return false;
  }
  auto j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    err = "the auth file is not a JSON object";
    return false;
  }
  for (auto& kv : j.items()) {
    if (kv.key() != "users") {
      err = "unknown key '" + kv.key() + "' (only \"users\")";
      return false;
    }
  }
  auto users = j.find("users");
  if (users == j.end() || !users->is_array()) {
    err = "\"users\" must be an array";
    return false;
  }
  if (users->size() > users_max) {
    err = "more than " + std::to_string(users_max) + " users";
    return false;
  }
  std::set<std::string> names;
  for (size_t i = 0; i < users->size(); ++i) {
    auto& u = (*users)[i];
    auto where = "users[" + std::to_string(i) + "]";
    if (!u.is_object()) {
      err = where + " must be an object";
      return false;
    }
    for (auto& kv : u.items()) {
      auto& k = kv.key();
      if (k != "name" && k != "token_sha256" && k != "role" && k != "stores") {
        err = where + ": unknown key '" + k + "'";
        return false;
      }
    }
    auth_user user;
    auto name = u.find("name");
    if (name == u.end() || !name->is_string() || name->get<std::string>().empty()
        || name->get<std::string>().size() > user_name_bytes_max) {
      err = where + ".name must be a non-empty string of at most "
            + std::to_string(user_name_bytes_max) + " bytes";
      return false;
    }
    user.name = name->get<std::string>();
    where += " (" + user.name + ")";
    if (!names.insert(user.name).second) {
      err = where + ": the name appears twice";
      return false;
    }
    auto digest = u.find("token_sha256");
    if (digest == u.end() || !digest->is_string()
        || !parse_hex(digest->get<std::string>(), user.token_sha256)) {
      err = where + ".token_sha256 must be 64 hex digits (the SHA-256 of "
                    "the token)";
      return false;
    }
    auto role = u.find("role");
    auto stores = u.find("stores");
    if (role != u.end()) {
      if (*role != "admin") {
        err = where + ".role must be \"admin\" (other users have \"stores\")";
        return false;
      }
      if (stores != u.end()) {
        err = where + ": an admin has no \"stores\" (it may use every store)";
        return false;
      }
      user.admin = true;
    } else {
      if (stores == u.end() || !stores->is_object()) {
        err = where + " needs \"role\":\"admin\" or a \"stores\" object";
        return false;
      }
      if (stores->size() > stores_per_user_max) {
        err = where + ".stores has more than "
              + std::to_string(stores_per_user_max) + " entries";
        return false;
      }
      for (auto& kv : stores->items()) {
        if (!valid_store_key(kv.key())) {
          err = where + ".stores: '" + kv.key()
                + "' is neither a store id nor \"*\"";
          return false;
        }
        if (kv.value() == "reader") {
          user.stores[kv.key()] = store_role::reader;
        } else if (kv.value() == "writer") {
          user.stores[kv.key()] = store_role::writer;
        } else {
          err = where + ".stores." + kv.key()
                + " must be \"reader\" or \"writer\"";
          return false;
        }
      }
    }
    auto key = digest_key(user.token_sha256);
    if (!out.by_digest_.emplace(key, out.users_.size()).second) {
      err = where + ": the same token as another user";
      return false;
    }
    out.users_.push_back(std::move(user));
  }
  return true;
}

const auth_user* auth_table::authenticate(const std::string& token) const {
  auto d = sha256(token);
  const auth_user* found = nullptr;
  // Every digest is compared, whatever matched before.
  for (auto& u : users_) {
    bool same = CRYPTO_memcmp(d.data(), u.token_sha256.data(), d.size()) == 0;
    if (same)
      found = &u;
  }
  return found;
}

const auth_user* auth_table::find(const std::string& digest) const {
  auto i = by_digest_.find(digest);
  return i == by_digest_.end() ? nullptr : &users_[i->second];
}

method_class classify(const std::string& method) {
  static const std::unordered_map<std::string, method_class> table{
    {"health", method_class::open},
    {"authenticate", method_class::open},
    {"list_stores", method_class::any_user},
    {"cluster_status", method_class::any_user},
    {"get_store_status", method_class::reader},
    {"get_store_config", method_class::reader},
    {"get_events", method_class::reader},
    {"get_version", method_class::reader},
    {"get_streams", method_class::reader},
    {"read_all", method_class::reader},
    {"get_stream_metadata", method_class::reader},
    {"read_snapshot", method_class::reader},
    {"list_snapshots", method_class::reader},
    {"save_subscription", method_class::reader},
    {"unsubscribe", method_class::reader},
    {"remove_subscription", method_class::reader},
    {"get_subscriptions", method_class::reader},
    {"ack_event", method_class::reader},
    {"append_events", method_class::writer},
    {"delete_stream", method_class::writer},
    {"truncate_stream", method_class::writer},
    {"set_stream_metadata", method_class::writer},
    {"record_snapshot", method_class::writer},
    {"delete_snapshot", method_class::writer},
    {"create_store", method_class::admin},
    {"remove_store", method_class::admin},
    {"backup_store", method_class::admin},
    {"restore_store", method_class::admin},
    {"list_backups", method_class::admin},
    {"scavenge_store", method_class::admin},
    {"leave_cluster", method_class::admin},
  };
  auto i = table.find(method);
  return i == table.end() ? method_class::admin : i->second;
}

verdict authorize(const auth_user* user, const std::string& method,
                  const std::string& store) {
  auto c = classify(method);
  if (c == method_class::open)
    return verdict::allowed;
  if (user == nullptr)
    return verdict::unauthorized;
  if (user->admin)
    return verdict::allowed;
  switch (c) {
    case method_class::any_user:
      return verdict::allowed;
    case method_class::reader:
      return user->role_on(store) != store_role::none ? verdict::allowed
                                                      : verdict::forbidden;
    case method_class::writer:
      return user->role_on(store) == store_role::writer ? verdict::allowed
                                                        : verdict::forbidden;
    default:
      return verdict::forbidden;
  }
}

std::string authenticate_result(const auth_user& user) {
  json stores = json::object();
  for (auto& [id, role] : user.stores)
    stores[id] = role == store_role::writer ? "writer" : "reader";
  return json{{"authenticated", true},
              {"user", user.name},
              {"role", user.admin ? "admin" : "user"},
              {"stores", std::move(stores)}}
    .dump(-1, ' ', false, json::error_handler_t::replace);
}

auth_registry::auth_registry(std::string path) : path_(std::move(path)) {
  // nop
}

bool auth_registry::load(std::string& err) {
  std::ifstream in{path_, std::ios::binary};
  if (!in) {
    err = "cannot read the auth file " + path_ + ": " + std::strerror(errno);
    return false;
  }
  std::string text;
  char buf[65536];
  while (in.read(buf, sizeof(buf)) || in.gcount() > 0) {
    text.append(buf, static_cast<size_t>(in.gcount()));
    if (text.size() > auth_table::file_bytes_max)
      break;
  }
  auto table = std::make_shared<auth_table>();
  std::string why;
  if (!auth_table::parse(text, *table, why)) {
    err = "the auth file " + path_ + " is not valid: " + why;
    return false;
  }
  std::lock_guard<std::mutex> guard{mtx_};
  table_ = std::move(table);
  return true;
}

std::shared_ptr<const auth_table> auth_registry::current() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return table_;
}

} // namespace cxesdb::gateway
