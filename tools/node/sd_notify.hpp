#pragma once

#include <string>

namespace cxesdb::tools {

/// Sends `state` (e.g. "READY=1\nSTATUS=serving") to the service manager
/// over the datagram socket named by `NOTIFY_SOCKET`, as systemd's
/// sd_notify(3) does, without linking libsystemd. A path starting with '@'
/// is an abstract socket. Does nothing when the variable is unset (not
/// started by systemd with Type=notify). Returns false only when the
/// variable is set and the datagram could not be sent, with the reason in
/// `error`.
bool sd_notify(const std::string& state, std::string& error);

} // namespace cxesdb::tools
