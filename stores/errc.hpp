#pragma once

#include <cstdint>
#include <string>

namespace cxesdb::stores {

/// The error reasons of the client protocol (section 2 of protocol.md), as
/// the codes of `caf::error`s that actors return. The JSON gateway maps them
/// to `data.reason` tags, the C++ client receives them as they are.
enum class errc : uint8_t {
  parse_error = 1,
  invalid_request,
  method_not_found,
  invalid_params,
  internal_error,
  not_found,
  already_exists,
  wrong_expected_version,
  unavailable,
  timeout,
  unauthorized,
  forbidden,
  too_large,
  overloaded,
  duplicate_event,
  /// Not a protocol reason: a replica that is not its store's leader
  /// refused a request; routers retry at the leader and never show it to
  /// clients (it renders as `unavailable`).
  not_leader,
  /// The stream was hard deleted (data: `stream`).
  stream_deleted,
};

/// The stable tag of a reason, as `data.reason` carries it.
const char* to_reason(errc x);

/// The JSON-RPC error code of a reason.
int to_code(errc x);

/// The reason's tag as a string; lets CAF render `caf::error`s of category
/// "cxesdb" (`actor_system_config::add_error_category<errc>`).
std::string to_string(errc x);

/// Finds the reason whose tag is `tag`. False for an unknown tag.
bool from_reason(const std::string& tag, errc& out);

} // namespace cxesdb::stores
