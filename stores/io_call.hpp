#pragma once

#include <functional>
#include <string>

#include "caf/fwd.hpp"

#include "stores/errc.hpp"

namespace cxesdb::actors {
class executor;
} // namespace cxesdb::actors

namespace cxesdb::stores {

/// What a blocking job (io_call) found: its answer text, or an error.
struct io_outcome {
  bool ok = true;
  errc reason = errc::internal_error; ///< when not ok
  std::string text;                   ///< the answer, or the error's text
  /// The error's second context element, when not empty (make_error's
  /// `what`; for too_large, the limit).
  std::string what;
};

/// Spawns a short-lived actor that runs one blocking `job` on `exec` (never
/// on a CAF scheduler thread) when it is asked `(call_atom) -> std::string`,
/// answers the job's text (or its error as make_error(reason, text)), and
/// quits. A full executor is answered `overloaded`. For the store manager's
/// file-system work that takes long (backups, restores) and that it must
/// neither block on nor track itself.
caf::actor spawn_io_call(caf::actor_system& sys, actors::executor& exec,
                         std::function<io_outcome()> job);

} // namespace cxesdb::stores
