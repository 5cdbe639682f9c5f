#include "tools/common/version.hpp"

#include <cstring>

#include "tools/common/commit.hpp"

#ifndef CXESDB_VERSION
#error "CXESDB_VERSION must be defined by the build (tools/common/meson.build)"
#endif

namespace cxesdb::tools {

const char* project_version() {
  return CXESDB_VERSION;
}

const char* build_commit() {
  return CXESDB_COMMIT[0] != '\0' ? CXESDB_COMMIT : "unknown";
}

std::string version_line(const std::string& program) {
  std::string line = program + " " + project_version();
  if (std::strcmp(build_commit(), "unknown") != 0)
    line += std::string{" (git "} + build_commit() + ")";
  return line;
}

} // namespace cxesdb::tools
