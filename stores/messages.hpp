#pragma once

// The values store actors exchange inside one node. They are whitelisted for
// local messaging only; what crosses the network travels as encoded commands
// (stores/codec.hpp) once stores are replicated.

#include "caf/allowed_unsafe_message_type.hpp"

#include "stores/catalog.hpp"
#include "stores/subscriptions.hpp"
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
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(cxesdb::stores::event_batch)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<cxesdb::stores::recorded_event>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(cxesdb::stores::subscribe_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(cxesdb::stores::subscribe_reply)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(cxesdb::stores::subscription_info)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<cxesdb::stores::subscription_info>)

#include "caf/error.hpp"
#include "caf/make_message.hpp"

#include "stores/errc.hpp"

namespace cxesdb::stores {

/// A `caf::error` that carries one of the protocol's reasons, and optionally
/// a human-readable text and, for not_found, what was not found ("store",
/// "subscription", "snapshot").
inline caf::error make_error(errc x, std::string text = {},
                             std::string what = {}) {
  if (text.empty())
    return caf::error{static_cast<uint8_t>(x), caf::atom("cxesdb")};
  if (what.empty())
    return caf::error{static_cast<uint8_t>(x), caf::atom("cxesdb"),
                      caf::make_message(std::move(text))};
  return caf::error{static_cast<uint8_t>(x), caf::atom("cxesdb"),
                    caf::make_message(std::move(text), std::move(what))};
}

} // namespace cxesdb::stores
