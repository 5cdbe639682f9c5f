// TLS on the client port against real cxesdb-node processes (protocol
// section 8): TLS with and without client certificates, plain TCP and
// garbage against a TLS port (no answer, the node unharmed), expired and
// wrong-CA certificates on either side, a half-finished handshake held open,
// bad certificate files, and TLS with authentication. Certificates are made
// at test time with the openssl command.

#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <set>

#include "gateway/auth.hpp"
#include "tests/integration/test_support.hpp"
#include "tests/security/certs.hpp"
#include "tests/security/security_support.hpp"
#include "tests/temp_dir.hpp"

using namespace cxesdb::tests;

namespace {

using tls_options = json_client::tls_options;

/// The certificates of the suite, made once.
struct pki {
  temp_dir dir{"cxesdb-tls-it"};
  cert_files ca = make_ca(dir.path, "ca");
  cert_files other_ca = make_ca(dir.path, "other_ca");
  cert_files server = make_cert(dir.path, "server", ca);
  cert_files expired_server = make_cert(dir.path, "expired_server", ca, -1);
  cert_files client = make_cert(dir.path, "client", ca);
  cert_files expired_client = make_cert(dir.path, "expired_client", ca, -1);
  cert_files stranger = make_cert(dir.path, "stranger", other_ca);
};

pki& certs() {
  static pki p;
  return p;
}

std::unique_ptr<node_process> start_tls_node(std::vector<std::string> extra) {
  auto& p = certs();
  node_options opts;
  opts.extra_args = {"--tls-cert", p.server.cert, "--tls-key", p.server.key};
  for (auto& a : extra)
    opts.extra_args.push_back(a);
  return std::make_unique<node_process>(opts);
}

/// A node with TLS, no client certificates.
node_process& tls_node() {
  static std::unique_ptr<node_process> n;
  if (!n)
    n = start_tls_node({"--tls-handshake-timeout-ms", "500"});
  REQUIRE_MESSAGE(n->running(), "the TLS node died; log tail:\n"
                                  << n->log_tail());
  return *n;
}

/// A node that requires client certificates signed by the suite's CA.
node_process& mtls_node() {
  static std::unique_ptr<node_process> n;
  if (!n)
    n = start_tls_node({"--tls-client-ca", certs().ca.cert});
  REQUIRE_MESSAGE(n->running(), "the mTLS node died; log tail:\n"
                                  << n->log_tail());
  return *n;
}

tls_options trust(const std::string& ca) {
  tls_options o;
  o.ca_file = ca;
  return o;
}

tls_options with_cert(const cert_files& c) {
  auto o = trust(certs().ca.cert);
  o.cert_file = c.cert;
  o.key_file = c.key;
  return o;
}

/// Connects with `o`; the error text, or nothing with `c` connected.
std::optional<std::string> dial(json_client& c, node_process& n,
                                const tls_options& o,
                                const std::string& token = {}) {
  c.set_tls(o);
  c.set_token(token);
  return c.connect("127.0.0.1", n.port(), rpc_timeout_ms);
}

json_client tls_connect(node_process& n, const tls_options& o) {
  json_client c;
  auto e = dial(c, n, o);
  REQUIRE_MESSAGE(!e.has_value(), *e);
  return c;
}

/// True when `c` gets no answer to health: the connect or the first call
/// fails (with TLS 1.3 the server refuses a client certificate after the
/// client finished its side of the handshake).
bool refused(json_client& c, node_process& n, const tls_options& o) {
  if (dial(c, n, o))
    return true;
  auto resp = c.call("health", json::object(), rpc_timeout_ms);
  return !resp.has_value() || !resp->contains("result");
}

/// Reads until the node closes the connection (or a generous minute
/// passes: then the result says it stayed open). Returns what came.
std::pair<bool, std::string> read_until_closed(int fd) {
  std::string got;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes{1};
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                  deadline - std::chrono::steady_clock::now())
                  .count();
    if (left <= 0)
      return {false, got};
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) <= 0)
      continue;
    char buf[4096];
    auto n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0)
      return {true, got};
    got.append(buf, static_cast<size_t>(n));
  }
}

} // namespace

TEST_CASE("TLS: requests, a large event and pipelining over TLS") {
  auto& n = tls_node();
  auto c = tls_connect(n, trust(certs().ca.cert));
  expect_alive(c);
  ok(c, "create_store", {{"store", "tls_store"}});
  // An event larger than a TLS record (16 KiB), several records each way.
  std::string big(300000, 'b');
  auto r = ok(c, "append_events",
              {{"store", "tls_store"},
               {"stream", "big"},
               {"events", {make_event("Big", {{"text", big}})}}});
  CHECK(r["version"] == 0);
  auto got = ok(c, "get_events", {{"store", "tls_store"}, {"stream", "big"}});
  REQUIRE(got["events"].size() == 1);
  CHECK(got["events"][0]["data"]["text"] == big);
  // Many requests in one write: every answer comes.
  std::string lines;
  for (int i = 0; i < 200; ++i)
    lines += json{{"jsonrpc", "2.0"}, {"id", 1000 + i},
                  {"method", "append_events"},
                  {"params", {{"store", "tls_store"},
                              {"stream", "many"},
                              {"events", {make_event("Many")}}}}}
               .dump()
             + "\n";
  REQUIRE(c.send_raw(lines));
  std::set<int> ids;
  for (int i = 0; i < 200; ++i) {
    auto m = read_json(c);
    result_of(m);
    ids.insert(m["id"].get<int>());
  }
  CHECK(ids.size() == 200);
  CHECK(ok(c, "get_version", {{"store", "tls_store"}, {"stream", "many"}})
          ["version"]
        == 199);
  // The name in the node's certificate is checked: localhost is in it.
  auto o = trust(certs().ca.cert);
  o.server_name = "localhost";
  auto d = tls_connect(n, o);
  expect_alive(d);
}

TEST_CASE("TLS: a node the client cannot trust is refused by the client") {
  auto& n = tls_node();
  json_client c;
  auto e = dial(c, n, trust(certs().other_ca.cert));
  REQUIRE(e.has_value());
  CHECK(e->find("certificate") != std::string::npos);
  auto o = trust(certs().ca.cert);
  o.server_name = "node.example.com"; // not in the certificate
  e = dial(c, n, o);
  REQUIRE(e.has_value());
  CHECK(e->find("certificate") != std::string::npos);
  // An expired server certificate.
  auto expired = std::make_unique<node_process>([] {
    node_options opts;
    opts.extra_args = {"--tls-cert", certs().expired_server.cert, "--tls-key",
                       certs().expired_server.key};
    return opts;
  }());
  e = dial(c, *expired, trust(certs().ca.cert));
  REQUIRE(e.has_value());
  CHECK(e->find("expired") != std::string::npos);
}

TEST_CASE("TLS: plain TCP and garbage get no answer; the node goes on") {
  auto& n = tls_node();
  {
    int fd = raw_connect(n.port());
    std::string line = R"({"jsonrpc":"2.0","id":1,"method":"health"})" "\n";
    REQUIRE(::send(fd, line.data(), line.size(), MSG_NOSIGNAL)
            == static_cast<ssize_t>(line.size()));
    auto [closed, got] = read_until_closed(fd);
    ::close(fd);
    CHECK(closed);
    CHECK(got.find("jsonrpc") == std::string::npos);
    CHECK(got.find('{') == std::string::npos);
  }
  {
    int fd = raw_connect(n.port());
    std::string garbage(20000, '\0');
    for (size_t i = 0; i < garbage.size(); ++i)
      garbage[i] = static_cast<char>((i * 131 + 7) & 0xff);
    ::send(fd, garbage.data(), garbage.size(), MSG_NOSIGNAL);
    auto [closed, got] = read_until_closed(fd);
    ::close(fd);
    CHECK(closed);
    CHECK(got.find("jsonrpc") == std::string::npos);
  }
  // A plain json_client: connects (TCP), gets no answer.
  {
    json_client plain;
    REQUIRE_FALSE(plain.connect("127.0.0.1", n.port(), rpc_timeout_ms));
    auto resp = plain.call("health", json::object(), rpc_timeout_ms);
    CHECK_FALSE(resp.has_value());
  }
  CHECK(n.running());
  auto c = tls_connect(n, trust(certs().ca.cert));
  expect_alive(c);
}

TEST_CASE("TLS: a half-finished handshake is closed after its timeout") {
  auto& n = tls_node(); // --tls-handshake-timeout-ms 500
  // Nothing at all, then the first 5 bytes of a ClientHello record.
  int idle = raw_connect(n.port());
  int partial = raw_connect(n.port());
  const char header[] = {0x16, 0x03, 0x01, 0x02, 0x00};
  REQUIRE(::send(partial, header, sizeof(header), MSG_NOSIGNAL) == 5);
  // Meanwhile the node serves others.
  auto c = tls_connect(n, trust(certs().ca.cert));
  expect_alive(c);
  for (int fd : {idle, partial}) {
    auto [closed, got] = read_until_closed(fd);
    ::close(fd);
    CHECK(closed);
    CHECK(got.find("jsonrpc") == std::string::npos);
  }
  // An established connection is not subject to the timeout.
  expect_alive(c);
}

TEST_CASE("TLS: client certificates are required with --tls-client-ca") {
  auto& n = mtls_node();
  auto good = tls_connect(n, with_cert(certs().client));
  expect_alive(good);
  {
    json_client c;
    CHECK(refused(c, n, trust(certs().ca.cert))); // no certificate
  }
  {
    json_client c;
    CHECK(refused(c, n, with_cert(certs().stranger))); // another CA
  }
  {
    json_client c;
    CHECK(refused(c, n, with_cert(certs().expired_client)));
  }
  CHECK(n.running());
  expect_alive(good);
  auto again = tls_connect(n, with_cert(certs().client));
  ok(again, "list_stores");
}

TEST_CASE("TLS with authentication: the token goes inside TLS") {
  temp_dir d{"cxesdb-tls-auth"};
  const std::string token = "tls-admin-token-0123456789";
  auto auth_path = d.path + "/auth.json";
  {
    std::ofstream out{auth_path};
    out << json{{"users",
                 {{{"name", "ops"},
                   {"token_sha256",
                    cxesdb::gateway::to_hex(cxesdb::gateway::sha256(token))},
                   {"role", "admin"}}}}}
             .dump();
  }
  auto n = start_tls_node({"--auth-file", auth_path});
  json_client c;
  auto e = dial(c, *n, trust(certs().ca.cert), "wrong-token-0123456789");
  REQUIRE(e.has_value());
  CHECK(e->find("unauthorized") != std::string::npos);
  CHECK(e->find("wrong-token") == std::string::npos);
  REQUIRE_FALSE(dial(c, *n, trust(certs().ca.cert), token));
  ok(c, "create_store", {{"store", "secured"}});
  CHECK(n->log().find(token) == std::string::npos);
}

TEST_CASE("TLS: bad certificate files stop the node with a reason") {
  auto& p = certs();
  temp_dir d{"cxesdb-tls-bad"};
  auto base = std::vector<std::string>{"--client-port", "0", "--api-port",
                                       "0", "--cluster-port", "0",
                                       "--data-dir", d.path + "/data"};
  auto run = [&](std::vector<std::string> args) {
    args.insert(args.end(), base.begin(), base.end());
    return run_node_to_exit(args);
  };
  auto r = run({"--tls-cert", d.path + "/missing.pem", "--tls-key",
                p.server.key});
  CHECK(r.status == 2);
  CHECK(r.output.find("missing.pem") != std::string::npos);
  r = run({"--tls-cert", p.server.cert, "--tls-key", p.client.key});
  CHECK(r.status == 2);
  CHECK(r.output.find("does not match") != std::string::npos);
  r = run({"--tls-cert", p.server.cert});
  CHECK(r.status == 2);
  CHECK(r.output.find("go together") != std::string::npos);
  r = run({"--tls-cert", p.server.cert, "--tls-key", p.server.key,
           "--tls-client-ca", d.path + "/nope.pem"});
  CHECK(r.status == 2);
  CHECK(r.output.find("nope.pem") != std::string::npos);
  r = run({"--tls-cert", p.server.key, "--tls-key", p.server.key});
  CHECK(r.status == 2);
  CHECK(r.output.find("certificate") != std::string::npos);
}
