#pragma once

// The values store actors exchange inside one node. They are whitelisted for
// local messaging only; what crosses the network travels as encoded commands
// (stores/codec.hpp) once stores are replicated.

#include "caf/allowed_unsafe_message_type.hpp"

#include "stores/catalog.hpp"
#include "stores/types.hpp"

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(cxesdb::stores::command)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(cxesdb::stores::command_result)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<cxesdb::stores::command_result>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(cxesdb::stores::query)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(cxesdb::stores::query_result)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(cxesdb::stores::store_info)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<cxesdb::stores::store_info>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(cxesdb::stores::store_config)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::shared_ptr<cxesdb::stores::store_files>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<cxesdb::stores::store_config>)

#include "caf/error.hpp"
#include "caf/make_message.hpp"

#include "stores/errc.hpp"

namespace cxesdb::stores {

/// A `caf::error` that carries one of the protocol's reasons, and optionally
/// a human-readable text.
inline caf::error make_error(errc x, std::string text = {}) {
  if (text.empty())
    return caf::error{static_cast<uint8_t>(x), caf::atom("cxesdb")};
  return caf::error{static_cast<uint8_t>(x), caf::atom("cxesdb"),
                    caf::make_message(std::move(text))};
}

} // namespace cxesdb::stores
