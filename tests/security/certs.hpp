#pragma once

// Certificates made at test time with the `openssl` command (scripts/setup
// installs it): a CA, and certificates it signs, valid, expired or for
// another name. EC P-256 keys: quick to make.

#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <string>

namespace cxesdb::tests {

/// A key and certificate pair on disk.
struct cert_files {
  std::string cert; ///< PEM certificate
  std::string key;  ///< PEM private key
};

/// Runs a shell command; throws with the command when it fails.
inline void run_or_throw(const std::string& cmd) {
  if (std::system((cmd + " >/dev/null 2>&1").c_str()) != 0)
    throw std::runtime_error("failed: " + cmd);
}

/// A self-signed CA `name` in `dir`.
inline cert_files make_ca(const std::string& dir, const std::string& name) {
  cert_files ca{dir + "/" + name + ".pem", dir + "/" + name + ".key"};
  run_or_throw("openssl req -x509 -newkey ec -pkeyopt "
               "ec_paramgen_curve:prime256v1 -nodes -keyout "
               + ca.key + " -out " + ca.cert + " -days 2 -subj /CN=" + name);
  return ca;
}

/// A certificate `name` signed by `ca`, valid for `days` (negative: it
/// expired already), naming 127.0.0.1 and localhost unless `san` says
/// otherwise.
inline cert_files make_cert(const std::string& dir, const std::string& name,
                            const cert_files& ca, int days = 2,
                            const std::string& san
                            = "IP:127.0.0.1,DNS:localhost") {
  cert_files c{dir + "/" + name + ".pem", dir + "/" + name + ".key"};
  auto csr = dir + "/" + name + ".csr";
  auto ext = dir + "/" + name + ".ext";
  {
    std::ofstream out{ext, std::ios::trunc};
    out << "subjectAltName=" << san << "\n";
  }
  run_or_throw("openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
               "-nodes -keyout "
               + c.key + " -out " + csr + " -subj /CN=" + name);
  run_or_throw("openssl x509 -req -in " + csr + " -CA " + ca.cert + " -CAkey "
               + ca.key + " -CAcreateserial -out " + c.cert + " -days "
               + std::to_string(days) + " -extfile " + ext);
  return c;
}

} // namespace cxesdb::tests
