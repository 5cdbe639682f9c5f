// Subscription errors against a real cxesdb-node over TCP: every bad
// parameter is invalid_params naming its field, a name taken by another
// definition is already_exists, an unknown subscription is not_found with
// what "subscription" (protocol.md sections 2 and 5). The connection stays
// usable after each.

#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include "tests/subscriptions/subscription_support.hpp"

using namespace cxesdb::tests;

namespace {

json sub(json type, json selector) {
  return {{"store", "errs"}, {"type", std::move(type)},
          {"selector", std::move(selector)}};
}

json with(json params, const std::string& key, json value) {
  params[key] = std::move(value);
  return params;
}

json without(json params, const std::string& key) {
  params.erase(key);
  return params;
}

} // namespace

TEST_CASE("subscription calls reject bad parameters and unknown "
          "subscriptions") {
  node_process node;
  auto c = node.connect();
  create_store(c, "errs");
  auto good = sub("by_stream", "$all");

  SUBCASE("type") {
    expect_invalid(c, "save_subscription", sub("by_nothing", "$all"), "type");
    expect_invalid(c, "save_subscription", sub("", "$all"), "type");
    expect_invalid(c, "save_subscription", sub(7, "$all"), "type");
    expect_invalid(c, "save_subscription", sub("BY_STREAM", "$all"), "type");
    expect_invalid(c, "save_subscription", without(good, "type"), "type");
  }

  SUBCASE("selector") {
    expect_invalid(c, "save_subscription", without(good, "selector"),
                   "selector");
    expect_invalid(c, "save_subscription", sub("by_stream", ""), "selector");
    expect_invalid(c, "save_subscription", sub("by_stream", 12), "selector");
    expect_invalid(c, "save_subscription", sub("by_stream", json::object()),
                   "selector");
    expect_invalid(c, "save_subscription",
                   sub("by_stream", std::string(1025, 's')), "selector");
    expect_invalid(c, "save_subscription", sub("by_event_type", ""),
                   "selector");
    expect_invalid(c, "save_subscription",
                   sub("by_event_type", json{{"event_type", "X"}}), "selector");
    expect_invalid(c, "save_subscription", sub("by_event_pattern", "X"),
                   "selector");
    expect_invalid(c, "save_subscription",
                   sub("by_event_pattern", json::array({1})), "selector");
    expect_invalid(c, "save_subscription", sub("by_event_payload", nullptr),
                   "selector");
    expect_invalid(c, "save_subscription", sub("by_event_payload", 3),
                   "selector");
  }

  SUBCASE("start_from") {
    // (null counts as absent, as everywhere in the protocol.)
    for (auto bad : {json(-1), json("latest"), json(1.5), json::object(),
                     json("0"), json(true), json("Origin")}) {
      CAPTURE(bad.dump());
      expect_invalid(c, "save_subscription", with(good, "start_from", bad),
                     "start_from");
    }
  }

  SUBCASE("max_in_flight") {
    for (auto bad : {json(0), json(-1), json(10001), json("5"), json(2.5)}) {
      CAPTURE(bad.dump());
      expect_invalid(c, "save_subscription", with(good, "max_in_flight", bad),
                     "max_in_flight");
    }
    // The bounds themselves are fine.
    ok(c, "save_subscription", with(good, "max_in_flight", 1));
    ok(c, "save_subscription", with(good, "max_in_flight", 10000));
  }

  SUBCASE("name") {
    for (auto bad : {json("has space"), json("slash/name"), json("star*"),
                     json(5), json(std::string(256, 'n'))}) {
      CAPTURE(bad.dump());
      expect_invalid(c, "save_subscription", with(good, "name", bad), "name");
    }
    // Letters, digits and _ - . : are fine.
    ok(c, "save_subscription", with(good, "name", "Ab_9-x.y:z"));
  }

  SUBCASE("the same name with another type or selector") {
    auto p = with(good, "name", "taken");
    CHECK(ok(c, "save_subscription", p)["subscription"] == "taken");
    err(c, "save_subscription", with(p, "selector", "stream-1"),
        "already_exists");
    err(c, "save_subscription",
        with(with(p, "type", "by_event_type"), "selector", "$all"),
        "already_exists");
    err(c, "save_subscription",
        with(with(p, "type", "by_event_payload"), "selector",
             json{{"a", 1}}),
        "already_exists");
    // From another connection too, and the same definition attaches.
    auto d = node.connect();
    err(d, "save_subscription", with(p, "selector", "other"), "already_exists");
    CHECK(ok(d, "save_subscription", p)["subscription"] == "taken");
    // Pattern selectors compare as JSON: key order does not matter.
    auto q = with(with(with(good, "name", "pat"), "type", "by_event_pattern"),
                  "selector", json{{"a", 1}, {"b", {{"c", 2}, {"d", 3}}}});
    ok(c, "save_subscription", q);
    auto reordered = json::parse(R"({"b":{"d":3,"c":2},"a":1})");
    CHECK(ok(d, "save_subscription", with(q, "selector", reordered))
            ["subscription"]
          == "pat");
    err(d, "save_subscription",
        with(q, "selector", json{{"a", 1}, {"b", {{"c", 2}}}}),
        "already_exists");
  }

  SUBCASE("unsubscribe and ack_event of an unknown subscription") {
    expect_not_found(c, "unsubscribe",
                     {{"store", "errs"}, {"subscription", "transient-999"}},
                     "subscription");
    expect_not_found(c, "unsubscribe",
                     {{"store", "errs"}, {"subscription", "nope"}},
                     "subscription");
    expect_not_found(c, "ack_event",
                     {{"store", "errs"}, {"subscription", "nope"}, {"position", 0}},
                     "subscription");
    expect_invalid(c, "unsubscribe", {{"store", "errs"}}, "subscription");
    expect_invalid(c, "unsubscribe", {{"store", "errs"}, {"subscription", 5}},
                   "subscription");
    expect_invalid(c, "ack_event", {{"store", "errs"}, {"subscription", "x"}},
                   "position");
    // Another connection's subscription is not this connection's.
    auto d = node.connect();
    auto id = ok(d, "save_subscription", good)["subscription"].get<std::string>();
    expect_not_found(c, "unsubscribe", {{"store", "errs"}, {"subscription", id}},
                     "subscription");
    expect_not_found(c, "ack_event",
                     {{"store", "errs"}, {"subscription", id}, {"position", 0}},
                     "subscription");
    // Unsubscribing twice: the second time it is unknown.
    CHECK(ok(d, "unsubscribe", {{"store", "errs"}, {"subscription", id}})
          == json{{"unsubscribed", true}});
    expect_not_found(d, "unsubscribe", {{"store", "errs"}, {"subscription", id}},
                     "subscription");
    // A persistent subscription that exists but that this connection is
    // not subscribed to.
    ok(d, "save_subscription", with(good, "name", "mine"));
    expect_not_found(c, "unsubscribe",
                     {{"store", "errs"}, {"subscription", "mine"}},
                     "subscription");
    expect_not_found(c, "ack_event",
                     {{"store", "errs"}, {"subscription", "mine"}, {"position", 0}},
                     "subscription");
  }

  SUBCASE("remove_subscription of an unknown subscription") {
    auto p = json{{"store", "errs"}, {"type", "by_stream"},
                  {"selector", "$all"}, {"name", "ghost"}};
    expect_not_found(c, "remove_subscription", p, "subscription");
    // It exists, but with another selector or type.
    auto d = node.connect();
    ok(d, "save_subscription", with(good, "name", "real"));
    expect_not_found(c, "remove_subscription",
                     with(with(p, "name", "real"), "selector", "s"),
                     "subscription");
    expect_not_found(c, "remove_subscription",
                     with(with(with(p, "name", "real"), "type", "by_event_type"),
                          "selector", "$all"),
                     "subscription");
    // Transient subscriptions are not removed this way.
    expect_invalid(c, "remove_subscription", with(p, "name", "transient"),
                   "name");
    expect_invalid(c, "remove_subscription", without(p, "name"), "name");
    expect_invalid(c, "remove_subscription", with(p, "type", "by_x"), "type");
    // Removed once, then unknown.
    CHECK(ok(c, "remove_subscription", with(p, "name", "real"))
          == json{{"removed", true}});
    auto dropped = next_notification(d, rpc_timeout_ms);
    REQUIRE(dropped.has_value());
    CHECK(*dropped == json{{"jsonrpc", "2.0"},
                           {"method", "subscription_dropped"},
                           {"params",
                            {{"store", "errs"},
                             {"subscription", "real"},
                             {"reason", "removed"}}}});
    expect_not_found(c, "remove_subscription", with(p, "name", "real"),
                     "subscription");
  }

  SUBCASE("an unknown store") {
    expect_not_found(c, "save_subscription",
                     with(good, "store", "no_such_store"), "store");
    expect_invalid(c, "save_subscription", with(good, "store", "Bad-Id"),
                   "store");
    expect_not_found(c, "get_subscriptions", {{"store", "no_such_store"}},
                     "store");
  }

  // Errors leave the connection usable, and it receives no notification.
  expect_alive(c);
  expect_quiet(c, 50);
}
