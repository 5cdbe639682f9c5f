// Between nodes (protocol section 8): the cluster secret, TLS on the
// cluster and API ports (--cluster-tls-*), and authentication on the API
// port, against real cxesdb-node processes on 127.0.0.1 and the C++ client.
// Certificates are made at test time (tests/security/certs.hpp).

#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <sys/socket.h>
#include <unistd.h>

#include "caf/actor_system.hpp"
#include "caf/actor_system_config.hpp"
#include "caf/io/middleman.hpp"

#include "gateway/auth.hpp"
#include "gateway/client.hpp"
#include "tests/integration/cluster.hpp"
#include "tests/integration/test_support.hpp"
#include "tests/security/certs.hpp"
#include "tests/security/security_support.hpp"
#include "tests/temp_dir.hpp"

using namespace cxesdb;
using namespace cxesdb::tests;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

/// The files of the suite: two secrets, a cluster CA with node and client
/// certificates, and what must not pass (another CA's, an expired one).
struct files {
  temp_dir dir{"cxesdb-cluster-sec"};
  std::string secret = write("secret", "the-secret-of-this-cluster-0123456789");
  std::string other_secret = write("other", "another-cluster-s-secret-abcdef");
  cert_files ca = make_ca(dir.path, "ca");
  cert_files other_ca = make_ca(dir.path, "other_ca");
  cert_files node = make_cert(dir.path, "node", ca);
  cert_files app = make_cert(dir.path, "app", ca);
  cert_files stranger = make_cert(dir.path, "stranger", other_ca);
  cert_files expired = make_cert(dir.path, "expired", ca, -1);

  std::string write(const std::string& name, const std::string& text) {
    auto path = dir.path + "/" + name;
    std::ofstream{path} << text << "\n";
    return path;
  }

  std::vector<std::string> tls_args(const cert_files& c) const {
    return {"--cluster-tls-cert", c.cert, "--cluster-tls-key", c.key,
            "--cluster-tls-ca", ca.cert};
  }
};

files& suite() {
  static files f;
  return f;
}

/// A node outside the cluster that seeds to all of its nodes, launched:
/// a node that joins a cluster serves clients only once it is a member, so
/// one kept out never prints its listening line.
std::unique_ptr<node_process> outsider(cluster& c, const std::string& name,
                                       std::vector<std::string> args) {
  node_options opts;
  opts.node_name = name;
  opts.cluster_port = 0;
  opts.start_now = false;
  for (size_t i = 1; i <= c.size(); ++i)
    opts.seeds.push_back(c.node(i).cluster_address());
  opts.extra_args = std::move(args);
  auto n = std::make_unique<node_process>(opts);
  n->launch();
  return n;
}

/// The names cluster_status lists through `client`.
std::set<std::string> listed(gateway::json_client& client) {
  std::set<std::string> out;
  auto status = ok(client, "cluster_status", json::object());
  for (auto& n : status["nodes"])
    out.insert(n["name"].get<std::string>());
  return out;
}

/// For a few reconnect rounds (the registry retries seeds every second):
/// the cluster's nodes list only themselves, and no outsider joins, so none
/// serves clients or holds a replica of `store`. A condition held over
/// time, not a timing asserted.
void check_kept_apart(cluster& c, const std::vector<node_process*>& outsiders,
                      const std::string& store) {
  std::set<std::string> members;
  for (size_t i = 1; i <= c.size(); ++i)
    members.insert(cluster::name(i));
  for (int round = 0; round < 5; ++round) {
    for (size_t i = 1; i <= c.size(); ++i) {
      auto client = c.client(i);
      auto names = listed(client);
      std::string text;
      for (auto& n : names)
        text += n + " ";
      CHECK_MESSAGE(names == members, cluster::name(i) << " lists " << text);
    }
    std::this_thread::sleep_for(1s);
  }
  for (auto* o : outsiders) {
    CHECK_MESSAGE(o->running(), o->log_tail());
    CHECK_MESSAGE(o->log().find("listening for clients") == std::string::npos,
                  o->log_tail());
    CHECK_MESSAGE(o->log().find("joined the cluster") == std::string::npos,
                  o->log_tail());
    CHECK_FALSE(std::filesystem::exists(o->data_dir() + "/" + store));
  }
}

/// Appends one event to `store` through `client`, retrying while the
/// store's group elects its first leader.
void append_one(gateway::json_client& client, const std::string& store) {
  json last;
  REQUIRE(wait_until(
    [&] {
      last = rpc(client, "append_events",
                 {{"store", store},
                  {"stream", "s"},
                  {"expected_version", "any"},
                  {"events", make_events(1)}});
      return last.contains("result");
    },
    30s, 100ms));
}

void create_store(gateway::json_client& client, const std::string& store) {
  json last;
  REQUIRE_MESSAGE(wait_until(
                    [&] {
                      last = rpc(client, "create_store",
                                 {{"store", store},
                                  {"config", {{"replication_factor", 3}}}});
                      return last.contains("result");
                    },
                    30s, 200ms),
                  brief(last));
}

/// An actor system for C++ clients, with or without the OpenSSL module.
struct client_system {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;

  explicit client_system(const cert_files* tls) {
    cfg.load<caf::io::middleman>();
    if (tls != nullptr)
      gateway::enable_tls(cfg, tls->cert, tls->key, suite().ca.cert);
    cfg.set("logger.verbosity", caf::atom("quiet"));
    cfg.set("logger.console", caf::atom("none"));
    gateway::add_error_category(cfg);
    sys = std::make_unique<caf::actor_system>(cfg);
  }
};

} // namespace

TEST_CASE("nodes with one cluster secret form a cluster; a node with another "
          "secret, or none, never joins and is sent no data") {
  auto& f = suite();
  cluster_options opts;
  opts.nodes = 3;
  opts.extra_args = {"--cluster-secret-file", f.secret};
  cluster c{opts};
  INFO(c.post_mortem());
  REQUIRE_MESSAGE(c.wait_all_up(60s), "no cluster formed");
  auto first = c.client(1);
  create_store(first, "orders");
  append_one(first, "orders");
  auto intruder = outsider(c, "intruder",
                           {"--cluster-secret-file", f.other_secret});
  auto plain = outsider(c, "plain", {});
  wait_for_log(*intruder, "does not prove this cluster's secret");
  wait_for_log(*plain, "does not prove this cluster's secret");
  check_kept_apart(c, {intruder.get(), plain.get()}, "orders");
  // A secret file that is too short or too long, or missing, stops a node
  // at start, naming the file and never showing the secret.
  auto r = run_node_to_exit({"--cluster-secret-file", f.write("short", "abc"),
                             "--data-dir", f.dir.path + "/short-data"});
  CHECK(r.status == 2);
  CHECK(r.output.find("must be 16 to 4096 bytes") != std::string::npos);
  CHECK(r.output.find("abc") == std::string::npos);
  r = run_node_to_exit({"--cluster-secret-file",
                        f.write("long", std::string(5000, 'k')), "--data-dir",
                        f.dir.path + "/long-data"});
  CHECK(r.status == 2);
  CHECK(r.output.find("must be 16 to 4096 bytes") != std::string::npos);
  r = run_node_to_exit({"--cluster-secret-file", f.dir.path + "/missing",
                        "--data-dir", f.dir.path + "/missing-data"});
  CHECK(r.status == 2);
  CHECK(r.output.find("cannot read the cluster secret file") != std::string::npos);
}

TEST_CASE("bad cluster TLS flags stop a node at start with the reason") {
  auto& f = suite();
  auto data = f.dir.path + "/tls-flags-data";
  // One of the three alone.
  auto r = run_node_to_exit({"--cluster-tls-cert", f.node.cert, "--data-dir",
                             data});
  CHECK(r.status == 2);
  CHECK(r.output.find("go together") != std::string::npos);
  // A file that is not there, and a key that is not the certificate's.
  r = run_node_to_exit({"--cluster-tls-cert", f.dir.path + "/none.pem",
                        "--cluster-tls-key", f.node.key, "--cluster-tls-ca",
                        f.ca.cert, "--data-dir", data});
  CHECK(r.status == 2);
  CHECK(r.output.find("none.pem") != std::string::npos);
  r = run_node_to_exit({"--cluster-tls-cert", f.node.cert, "--cluster-tls-key",
                        f.app.key, "--cluster-tls-ca", f.ca.cert, "--data-dir",
                        data});
  CHECK(r.status == 2);
  CHECK(r.output.find("key") != std::string::npos);
  // A CA file that holds no certificate.
  r = run_node_to_exit({"--cluster-tls-cert", f.node.cert, "--cluster-tls-key",
                        f.node.key, "--cluster-tls-ca",
                        f.write("not-a-ca.pem", "garbage"), "--data-dir",
                        data});
  CHECK(r.status == 2);
  CHECK(r.output.find("not-a-ca.pem") != std::string::npos);
}

TEST_CASE("under cluster TLS, nodes whose certificates the CA signed form a "
          "cluster; another CA's, an expired one, or none never join; "
          "garbage and a stalled handshake harm nothing") {
  auto& f = suite();
  cluster_options opts;
  opts.nodes = 3;
  opts.extra_args = f.tls_args(f.node);
  cluster c{opts};
  INFO(c.post_mortem());
  REQUIRE_MESSAGE(c.wait_all_up(60s), "no cluster formed");
  for (size_t i = 1; i <= c.size(); ++i)
    CHECK(c.node(i).log().find("listening for peers on") != std::string::npos);
  CHECK(c.node(1).log().find(" (TLS)") != std::string::npos);
  auto first = c.client(1);
  create_store(first, "orders");
  auto second = c.client(2);
  append_one(second, "orders");

  // Another CA's certificate: the TLS handshakes fail both ways.
  auto args = f.tls_args(f.stranger);
  auto stranger = outsider(c, "stranger", args);
  auto expired = outsider(c, "expired", f.tls_args(f.expired));
  auto plain = outsider(c, "plain", {});
  // A peer that sends garbage, and one that opens a TLS connection and
  // never finishes its handshake, held open meanwhile.
  auto port = c.node(1).cluster_port();
  int garbage = raw_connect(port);
  std::string junk(4096, '\x5a');
  CHECK(::send(garbage, junk.data(), junk.size(), MSG_NOSIGNAL) > 0);
  int stalled = raw_connect(port);
  const unsigned char hello_start[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01};
  CHECK(::send(stalled, hello_start, sizeof(hello_start), MSG_NOSIGNAL) > 0);

  check_kept_apart(c, {stranger.get(), expired.get(), plain.get()}, "orders");
  // The cluster still takes appends through every node.
  for (size_t i = 1; i <= c.size(); ++i) {
    auto client = c.client(i);
    append_one(client, "orders");
  }
  ::close(garbage);
  ::close(stalled);
  CHECK(c.wait_replicas_agree("orders", {1, 2, 3}, 4, 30s));
}

TEST_CASE("the API port under cluster TLS and an auth file: a C++ client "
          "with the CA's certificate signs in with its token") {
  auto& f = suite();
  temp_dir d{"cxesdb-api-auth"};
  const std::string admin = "the-admin-token-0123456789abcdef";
  const std::string reader = "the-reader-token-0123456789abcdef";
  auto auth_path = d.path + "/auth.json";
  std::ofstream{auth_path} << json{
    {"users",
     {{{"name", "ops"},
       {"token_sha256", gateway::to_hex(gateway::sha256(admin))},
       {"role", "admin"}},
      {{"name", "audit"},
       {"token_sha256", gateway::to_hex(gateway::sha256(reader))},
       {"stores", {{"*", "reader"}}}}}}}
                                .dump();
  node_options opts;
  opts.extra_args = f.tls_args(f.node);
  opts.extra_args.push_back("--auth-file");
  opts.extra_args.push_back(auth_path);
  node_process n{opts};
  INFO(n.log_tail());
  auto api_port = n.api_port();
  CHECK(n.log().find("listening for api on 127.0.0.1:" + std::to_string(api_port)
                     + " (TLS)")
        != std::string::npos);

  client_system tls{&f.app};
  gateway::client_options co;
  co.tls = true;
  co.connect_timeout = 10s;
  {
    // Without a token: only health answers.
    auto c = gateway::client::connect(*tls.sys, "127.0.0.1", api_port, co);
    REQUIRE_MESSAGE(c, tls.sys->render(c.error()));
    CHECK(c->call("health"));
    auto v = c->call("get_version", {{"stream", "s"}});
    REQUIRE_FALSE(v);
    CHECK(gateway::reason_of(v.error()) == gateway::errc::unauthorized);
  }
  {
    // The admin's token: appends and reads.
    co.token = admin;
    auto c = gateway::client::connect(*tls.sys, "127.0.0.1", api_port, co);
    REQUIRE_MESSAGE(c, tls.sys->render(c.error()));
    auto r = c->call("append_events", {{"stream", "s"},
                                       {"expected_version", "any"},
                                       {"events", make_events(2)}});
    REQUIRE_MESSAGE(r, tls.sys->render(r.error()));
    auto v = c->call("get_version", {{"stream", "s"}});
    REQUIRE(v);
    CHECK((*v)["version"] == 1);
  }
  {
    // A reader may read, not write: forbidden with the store.
    co.token = reader;
    auto c = gateway::client::connect(*tls.sys, "127.0.0.1", api_port, co);
    REQUIRE_MESSAGE(c, tls.sys->render(c.error()));
    CHECK(c->call("get_version", {{"stream", "s"}}));
    auto w = c->call("append_events", {{"stream", "s"},
                                       {"expected_version", "any"},
                                       {"events", make_events(1)}});
    REQUIRE_FALSE(w);
    CHECK(gateway::reason_of(w.error()) == gateway::errc::forbidden);
    CHECK(gateway::data_of(w.error())["store"] == "default");
  }
  {
    // A wrong token fails the connect, and the error does not echo it.
    co.token = "a-wrong-token-0123456789abcdef";
    auto c = gateway::client::connect(*tls.sys, "127.0.0.1", api_port, co);
    REQUIRE_FALSE(c);
    CHECK(gateway::reason_of(c.error()) == gateway::errc::unauthorized);
    CHECK(tls.sys->render(c.error()).find(co.token) == std::string::npos);
  }
  {
    // Without TLS the handshake never completes: unavailable.
    client_system plain{nullptr};
    gateway::client_options po;
    po.connect_timeout = 3s;
    po.token = admin;
    auto c = gateway::client::connect(*plain.sys, "127.0.0.1", api_port, po);
    REQUIRE_FALSE(c);
    CHECK(gateway::reason_of(c.error()) == gateway::errc::unavailable);
  }
  CHECK(n.log().find(admin) == std::string::npos);
  CHECK(n.log().find(reader) == std::string::npos);
  // The node still serves after all of it.
  auto jc = n.connect();
  CHECK(ok(jc, "health", json::object())["status"] == "ok");
}

int main(int argc, char** argv) {
  doctest::Context ctx{argc, argv};
  int rc = ctx.run();
  return rc;
}
