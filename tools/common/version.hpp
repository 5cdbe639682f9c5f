#pragma once

#include <string>

namespace cxesdb::tools {

/// The line every binary prints for `--version`: `PROGRAM VERSION`, where
/// VERSION is meson's project version, followed by `(git COMMIT)` when the
/// binary was built from a git checkout.
std::string version_line(const std::string& program);

/// The project version alone (meson.build's `version`).
const char* project_version();

/// The commit the binary was built from, or "unknown".
const char* build_commit();

} // namespace cxesdb::tools
