#pragma once

#include <memory>
#include <optional>
#include <string>

#include "gateway/json_rpc.hpp"

namespace cxesdb::gateway {

class auth_registry;
class auth_table;
struct auth_user;

/// The gateway worker's first check of a call, before its method is looked
/// up (protocol section 8). `auth` is null when the node runs without
/// --auth-file; `principal` is null for the node's own callers (not
/// checked), else the connection's token digest (empty: not
/// authenticated). Finds the connection's user in the current auth file
/// (kept alive in `table`; `user` stays null when there is none) and
/// answers `unauthorized` when the method needs a user and there is none:
/// the connection never authenticated, or its user was removed or its token
/// changed since. `authenticate` that reaches a worker is `invalid_request`
/// with authentication on (the connection answers it when it is a message
/// of its own).
std::optional<rpc_error>
check_authenticated(const auth_registry* auth, const std::string* principal,
                    const std::string& method,
                    std::shared_ptr<const auth_table>& table,
                    const auth_user*& user);

/// The second check, once the call's store is known: `forbidden`, with
/// `data.store`, when `user` may not call `method` on `store`. Null `user`:
/// nothing to check (authentication off, the node's own callers, or an
/// open method). `store_named`: the call named its store (else it is the
/// default store; a method about no store shows `data.store: null`).
std::optional<rpc_error> check_rights(const auth_user* user,
                                      const std::string& method,
                                      const std::string& store,
                                      bool store_named);

/// `authenticate`'s result on a node without --auth-file: every connection
/// may do everything, whatever token it shows.
std::string open_authenticate_result();

} // namespace cxesdb::gateway
