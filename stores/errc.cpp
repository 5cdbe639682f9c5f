#include "stores/errc.hpp"

namespace cxesdb::stores {

const char* to_reason(errc x) {
  switch (x) {
    case errc::parse_error:
      return "parse_error";
    case errc::invalid_request:
      return "invalid_request";
    case errc::method_not_found:
      return "method_not_found";
    case errc::invalid_params:
      return "invalid_params";
    case errc::internal_error:
      return "internal_error";
    case errc::not_found:
      return "not_found";
    case errc::already_exists:
      return "already_exists";
    case errc::wrong_expected_version:
      return "wrong_expected_version";
    case errc::unavailable:
      return "unavailable";
    case errc::timeout:
      return "timeout";
    case errc::unauthorized:
      return "unauthorized";
    case errc::forbidden:
      return "forbidden";
    case errc::too_large:
      return "too_large";
    case errc::overloaded:
      return "overloaded";
    case errc::duplicate_event:
      return "duplicate_event";
    case errc::not_leader:
      return "unavailable";
    case errc::stream_deleted:
      return "stream_deleted";
  }
  return "internal_error";
}

int to_code(errc x) {
  switch (x) {
    case errc::parse_error:
      return -32700;
    case errc::invalid_request:
      return -32600;
    case errc::method_not_found:
      return -32601;
    case errc::invalid_params:
      return -32602;
    case errc::internal_error:
      return -32603;
    case errc::not_found:
      return -32001;
    case errc::already_exists:
      return -32002;
    case errc::wrong_expected_version:
      return -32003;
    case errc::unavailable:
      return -32004;
    case errc::timeout:
      return -32005;
    case errc::unauthorized:
      return -32006;
    case errc::forbidden:
      return -32007;
    case errc::too_large:
      return -32008;
    case errc::overloaded:
      return -32009;
    case errc::duplicate_event:
      return -32010;
    case errc::not_leader:
      return to_code(errc::unavailable);
    case errc::stream_deleted:
      return -32011;
  }
  return -32603;
}

std::string to_string(errc x) {
  return to_reason(x);
}

bool from_reason(const std::string& tag, errc& out) {
  for (auto i = static_cast<int>(errc::parse_error);
       i <= static_cast<int>(errc::stream_deleted); ++i) {
    auto x = static_cast<errc>(i);
    if (x == errc::not_leader)
      continue; // not a protocol reason
    if (tag == to_reason(x)) {
      out = x;
      return true;
    }
  }
  return false;
}

} // namespace cxesdb::stores
