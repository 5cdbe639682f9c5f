#include "tests/actor/fixture.hpp"

#include <cstdlib>
#include <filesystem>
#include <stdexcept>

namespace cxesdb::tests {

temp_dir::temp_dir() {
  char tmpl[] = "/tmp/cxesdb-actor-XXXXXX";
  if (mkdtemp(tmpl) == nullptr)
    throw std::runtime_error("mkdtemp failed");
  path = tmpl;
}

temp_dir::~temp_dir() {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
}

} // namespace cxesdb::tests
