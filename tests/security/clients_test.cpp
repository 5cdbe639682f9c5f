// cxesdb-shell and cxesdb-bench against a real node with authentication and
// TLS (protocol section 8): --token (and CXESDB_TOKEN), --tls-ca and client
// certificates; a refused token or a missing TLS setting fails with the
// node's reason and never prints the token.

#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <cstdio>
#include <fstream>
#include <memory>

#include "gateway/auth.hpp"
#include "tests/integration/test_support.hpp"
#include "tests/security/certs.hpp"
#include "tests/temp_dir.hpp"

using namespace cxesdb::tests;

namespace {

const std::string admin_token = "clients-admin-token-0123456789";
const std::string reader_token = "clients-reader-token-0123456789";

struct secured {
  temp_dir dir{"cxesdb-clients-it"};
  cert_files ca = make_ca(dir.path, "ca");
  cert_files server = make_cert(dir.path, "server", ca);
  cert_files client = make_cert(dir.path, "client", ca);
  std::unique_ptr<node_process> node;

  secured() {
    auto auth = dir.path + "/auth.json";
    {
      std::ofstream out{auth};
      using cxesdb::gateway::sha256;
      using cxesdb::gateway::to_hex;
      out << json{{"users",
                   {{{"name", "ops"},
                     {"token_sha256", to_hex(sha256(admin_token))},
                     {"role", "admin"}},
                    {{"name", "viewer"},
                     {"token_sha256", to_hex(sha256(reader_token))},
                     {"stores", {{"*", "reader"}}}}}}}
               .dump();
    }
    node_options opts;
    opts.extra_args = {"--auth-file",     auth,          "--tls-cert",
                       server.cert,       "--tls-key",   server.key,
                       "--tls-client-ca", ca.cert};
    node = std::make_unique<node_process>(opts);
  }

  /// The client flags of a trusted TLS connection.
  std::string tls_flags() const {
    return " --tls-ca " + ca.cert + " --tls-cert " + client.cert
           + " --tls-key " + client.key;
  }
};

secured& the_node() {
  static std::unique_ptr<secured> s;
  if (!s)
    s = std::make_unique<secured>();
  REQUIRE(s->node->running());
  return *s;
}

struct run_result {
  int code = -1;
  std::string out; ///< stdout and stderr
};

run_result run(const std::string& cmd) {
  run_result r;
  auto p = ::popen((cmd + " 2>&1").c_str(), "r");
  REQUIRE(p != nullptr);
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0)
    r.out.append(buf, n);
  auto status = ::pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::string env(const char* name) {
  auto v = std::getenv(name);
  REQUIRE_MESSAGE(v != nullptr, name << " is not set");
  return v;
}

} // namespace

TEST_CASE("the shell with --token, CXESDB_TOKEN and TLS") {
  auto& s = the_node();
  auto shell = env("CXESDB_SHELL") + " --port "
               + std::to_string(s.node->port()) + s.tls_flags();
  auto r = run(shell + " --token " + admin_token
               + " create-store shell_secured");
  INFO(r.out);
  CHECK(r.code == 0);
  CHECK(r.out.find("shell_secured") != std::string::npos);
  r = run("CXESDB_TOKEN=" + reader_token + " " + shell + " stores");
  CHECK(r.code == 0);
  CHECK(r.out.find("shell_secured") != std::string::npos);
  // The reader may not append: the node's reason, exit 1.
  r = run("CXESDB_TOKEN=" + reader_token + " " + shell
          + " --store shell_secured append s --type T '{}'");
  CHECK(r.code == 1);
  CHECK(r.out.find("forbidden") != std::string::npos);
  // A wrong token: a connection failure naming the reason, not the token.
  r = run(shell + " --token wrong-token-0123456789 health");
  CHECK(r.code == 2);
  CHECK(r.out.find("unauthorized") != std::string::npos);
  CHECK(r.out.find("wrong-token-0123456789") == std::string::npos);
  // Without TLS, or without the client certificate: no connection.
  r = run(env("CXESDB_SHELL") + " --port " + std::to_string(s.node->port())
          + " --timeout-ms 5000 --token " + admin_token + " health");
  CHECK(r.code == 2);
  r = run(env("CXESDB_SHELL") + " --port " + std::to_string(s.node->port())
          + " --tls-ca " + s.ca.cert + " --token " + admin_token + " health");
  CHECK(r.code == 2);
  r = run(env("CXESDB_SHELL") + " --tls-cert " + s.client.cert + " health");
  CHECK(r.code == 64); // --tls-cert without --tls-key
}

TEST_CASE("cxesdb-bench with a token and TLS") {
  auto& s = the_node();
  auto bench = env("CXESDB_BENCH");
  auto common = " --port " + std::to_string(s.node->port()) + s.tls_flags()
                + " --clients 2 --duration 0.5 --warmup 0 --quiet --json";
  auto r = run("CXESDB_TOKEN=" + admin_token + " " + bench + " append"
               + common + " --streams 4");
  INFO(r.out);
  REQUIRE(r.code == 0);
  json j;
  size_t start = 0;
  while (start < r.out.size()) {
    auto end = r.out.find('\n', start);
    if (end == std::string::npos)
      end = r.out.size();
    if (r.out[start] == '{')
      j = json::parse(r.out.substr(start, end - start), nullptr, false);
    start = end + 1;
  }
  REQUIRE(j.is_object());
  CHECK(j["requests"].get<int64_t>() > 0);
  CHECK(j["errors"] == 0);
  // A reader's appends are forbidden: errors, not transport failures.
  r = run(bench + " append" + common + " --token " + reader_token);
  CHECK(r.code == 0);
  CHECK(r.out.find("forbidden") != std::string::npos);
  // A wrong token: every connection fails (transport error, exit 1).
  r = run(bench + " health" + common + " --token wrong-token-0123456789");
  CHECK(r.code == 1);
  CHECK(r.out.find("wrong-token-0123456789") == std::string::npos);
  CHECK(s.node->log().find(admin_token) == std::string::npos);
}
