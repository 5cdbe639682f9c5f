#pragma once

#include <stdlib.h>

#include <filesystem>
#include <stdexcept>
#include <string>

namespace cxesdb::tests {

/// A new directory under /tmp (`/tmp/<prefix>-XXXXXX`), removed with
/// everything in it when the object goes.
struct temp_dir {
  std::string path;

  explicit temp_dir(const std::string& prefix = "cxesdb-test") {
    std::string tmpl = "/tmp/" + prefix + "-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr)
      throw std::runtime_error("mkdtemp failed for " + tmpl);
    path = tmpl;
  }

  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

} // namespace cxesdb::tests
