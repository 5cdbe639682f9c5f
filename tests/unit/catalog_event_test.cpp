#include <doctest/doctest.h>

#include "stores/catalog.hpp"

using namespace cxesdb::stores;
using kind = catalog_event::kind;

TEST_CASE("catalog events: what the nodes write decodes") {
  auto j = decode_catalog_event("nodes", "node_joined",
                                R"({"name":"node1","address":"127.0.0.1:7"})");
  CHECK(j.what == kind::node_joined);
  CHECK(j.node == "node1");
  CHECK(j.address == "127.0.0.1:7");
  auto l = decode_catalog_event("nodes", "node_left", R"({"name":"node2"})");
  CHECK(l.what == kind::node_left);
  CHECK(l.node == "node2");
  store_config cfg;
  cfg.id = "orders";
  cfg.replication_factor = 3;
  cfg.tags = {"a"};
  auto c = decode_catalog_event(
    "store-orders", "store_created",
    R"({"config":)" + to_json_text(cfg) + R"(,"founders":["node1"]})");
  CHECK(c.what == kind::store_created);
  CHECK(c.store == "orders");
  REQUIRE(c.config_ok);
  CHECK(c.config.id == "orders");
  CHECK(c.config.replication_factor == 3);
  CHECK(c.config.tags == std::vector<std::string>{"a"});
  CHECK(c.founders == std::vector<std::string>{"node1"});
  CHECK(decode_catalog_event("store-orders", "store_removed", "{}").what
        == kind::store_removed);
  CHECK(decode_catalog_event("store-orders", "renamed", "{}").what
        == kind::store_other);
}

// The store manager used to read members with nlohmann's value(), which
// throws on a member of the wrong type (or data that is not an object) out
// of the manager's handler; tests/fuzz/corpus/catalog holds these too.
TEST_CASE("catalog events: wrong types are refused, never thrown") {
  CHECK(decode_catalog_event("nodes", "node_joined", R"({"name":5})").what
        == kind::ignored);
  CHECK(decode_catalog_event("nodes", "node_joined", "[1]").what
        == kind::ignored);
  CHECK(decode_catalog_event("nodes", "node_joined", "not json").what
        == kind::ignored);
  auto a = decode_catalog_event("nodes", "node_joined",
                                R"({"name":"n","address":[1]})");
  CHECK(a.what == kind::node_joined);
  CHECK(a.address.empty());
  auto l = decode_catalog_event("nodes", "node_left", R"({"name":{}})");
  CHECK(l.what == kind::node_left);
  CHECK(l.node.empty());
  auto c = decode_catalog_event("store-orders", "store_created",
                                R"({"config":{"timeout_ms":"x"}})");
  CHECK(c.what == kind::store_created);
  CHECK_FALSE(c.config_ok);
  CHECK_FALSE(decode_catalog_event("store-orders", "store_created", "7")
                .config_ok);
}

TEST_CASE("catalog events: a store stream must name a valid store id") {
  CHECK(decode_catalog_event("store-../x", "store_created", "{}").what
        == kind::ignored);
  CHECK(decode_catalog_event("store-", "store_removed", "{}").what
        == kind::ignored);
  CHECK(decode_catalog_event("stores", "store_removed", "{}").what
        == kind::ignored);
}

// Found by the catalog fuzz target on a hand-made corpus file
// (edge-timeout-float): a float read as int64_t is undefined behaviour
// (UBSan: 1e+300 is outside the range of representable values).
TEST_CASE("store config text: integers must be integers") {
  std::string rest = R"(,"tags":[],"data_dir":"","created_at":"","description":null})";
  CHECK_THROWS(config_from_json_text(
    "orders", R"({"timeout_ms":1e300,"replication_factor":1)" + rest));
  CHECK_THROWS(config_from_json_text(
    "orders", R"({"timeout_ms":10,"replication_factor":18446744073709551615)"
                + rest));
  auto cfg = config_from_json_text(
    "orders", R"({"timeout_ms":10,"replication_factor":2)" + rest);
  CHECK(cfg.timeout_ms == 10);
  CHECK(cfg.replication_factor == 2);
}
