// The registry over real loopback TCP: three CAF actor systems in one
// process, each with its middleman and its registry published on a port of
// its own. Waits poll with deadlines; nothing asserts on speed.

#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "caf/actor_system.hpp"
#include "caf/actor_system_config.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/io/middleman.hpp"
#include "caf/scoped_actor.hpp"
#include "caf/send.hpp"

#include "actors/log.hpp"
#include "actors/registry.hpp"
#include "actors/type_ids.hpp"

using namespace cxesdb::actors;
using namespace std::chrono_literals;

namespace {

/// Long enough for a loaded machine; the happy path takes well under a
/// second.
constexpr auto deadline = 10s;

/// One node: an actor system with a middleman and a published registry.
struct node {
  std::string name;
  // The actor system keeps a reference to its config: keep it alive.
  std::unique_ptr<caf::actor_system_config> cfg;
  std::unique_ptr<caf::actor_system> sys;
  caf::actor reg;
  std::string address;
  /// Actors spawned for the test, stopped before the system.
  std::vector<caf::actor> actors;

  node(std::string node_name, std::vector<std::string> seeds,
       const std::string& secret = {},
       size_t challenges_max = registry_config::challenges_max_default)
    : name(std::move(node_name)) {
    cfg = std::make_unique<caf::actor_system_config>();
    cfg->load<caf::io::middleman>();
    cfg->add_message_types<caf::id_block::cxesdb>();
    cfg->set("scheduler.max-threads", 2);
    cfg->set("logger.verbosity", caf::atom("quiet"));
    cfg->set("logger.console", caf::atom("none"));
    sys = std::make_unique<caf::actor_system>(*cfg);
    registry_config rc;
    rc.node_name = name;
    rc.seeds = std::move(seeds);
    rc.heartbeat_interval_ms = 100;
    rc.failure_timeout_ms = 1500;
    rc.reconnect_interval_ms = 200;
    rc.connect_timeout_ms = 1000;
    if (!secret.empty())
      REQUIRE(rc.secret.set(secret));
    rc.challenges_max = challenges_max;
    reg = spawn_registry(*sys, rc);
    auto port = sys->middleman().publish(reg, 0, "127.0.0.1");
    REQUIRE(port);
    address = "127.0.0.1:" + std::to_string(*port);
    caf::anon_send(reg, caf::publish_atom_v, *port);
  }

  ~node() {
    stop();
  }

  /// Stops the registry and the test's actors, then the system (and with it
  /// every connection of this node).
  void stop() {
    if (!sys)
      return;
    for (auto& a : actors)
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    actors.clear();
    caf::anon_send_exit(reg, caf::exit_reason::user_shutdown);
    reg = caf::actor{};
    sys.reset();
    cfg.reset();
  }

  /// An actor answering a string with "<node>:<string>".
  caf::actor echo() {
    auto tag = name;
    auto a = sys->spawn([tag](caf::event_based_actor*) -> caf::behavior {
      return {
        [tag](const std::string& text) { return tag + ":" + text; },
      };
    });
    actors.push_back(a);
    return a;
  }

  /// Asks the registry and returns its answer of type T; fails the test on
  /// an error.
  template <class T, class... Ts>
  T ask(Ts&&... xs) {
    caf::scoped_actor self{*sys};
    T result{};
    self->request(reg, 5s, std::forward<Ts>(xs)...)
      .receive([&](T& x) { result = std::move(x); },
               [&](caf::error& err) {
                 FAIL("registry of " << name << " failed: "
                                     << sys->render(err));
               });
    return result;
  }

  /// Asks the registry for a bool and returns whether it answered with an
  /// error instead.
  template <class... Ts>
  bool ask_fails(Ts&&... xs) {
    caf::scoped_actor self{*sys};
    bool failed = false;
    self->request(reg, 5s, std::forward<Ts>(xs)...)
      .receive([&](bool) {}, [&](caf::error&) { failed = true; });
    return failed;
  }

  std::vector<member_info> members() {
    return ask<std::vector<member_info>>(members_atom_v);
  }

  /// Whether this node holds exactly `up` as up members (itself included).
  bool sees_up(std::set<std::string> up) {
    std::set<std::string> seen;
    for (auto& m : members())
      if (m.up)
        seen.insert(m.name);
    return seen == up;
  }

  caf::actor whereis(const std::string& key) {
    return ask<caf::actor>(whereis_atom_v, key);
  }

  std::vector<caf::actor> group(const std::string& g) {
    return ask<std::vector<caf::actor>>(members_atom_v, g);
  }

  /// The answer of `a` (maybe a proxy) to `text`, asked from this node.
  std::string call(const caf::actor& a, const std::string& text) {
    caf::scoped_actor self{*sys};
    std::string result;
    self->request(a, 5s, text).receive(
      [&](std::string& x) { result = std::move(x); },
      [&](caf::error& err) { result = "error: " + sys->render(err); });
    return result;
  }
};

/// Polls `pred` until it holds or `deadline` passes.
template <class Pred>
bool eventually(Pred pred) {
  auto until = std::chrono::steady_clock::now() + deadline;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > until)
      return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

bool same_actor(const caf::actor& x, const caf::actor& y) {
  return x && y && x.node() == y.node() && x.id() == y.id();
}

std::set<std::string> strings(const std::vector<caf::message>& replies) {
  std::set<std::string> result;
  for (auto& msg : replies)
    if (msg.match_elements<std::string>())
      result.insert(msg.get_as<std::string>(0));
  return result;
}

/// A peer that answers hello like a registry and then stays silent: no
/// heartbeats, no gossip, but its connection stays open.
struct ghost {
  std::unique_ptr<caf::actor_system_config> cfg;
  std::unique_ptr<caf::actor_system> sys;
  caf::actor actor;
  std::string address;

  ghost() {
    cfg = std::make_unique<caf::actor_system_config>();
    cfg->load<caf::io::middleman>();
    cfg->add_message_types<caf::id_block::cxesdb>();
    cfg->set("scheduler.max-threads", 1);
    cfg->set("logger.verbosity", caf::atom("quiet"));
    cfg->set("logger.console", caf::atom("none"));
    sys = std::make_unique<caf::actor_system>(*cfg);
    auto addr = std::make_shared<std::string>();
    actor = sys->spawn([addr](caf::event_based_actor* self) -> caf::behavior {
      self->set_default_handler(caf::drop);
      return {
        // The challenge, answered as a node without a cluster secret does.
        [](hello_atom, const std::string&)
          -> caf::result<std::string, std::string> {
          return {peer_secret::make_nonce(), std::string{}};
        },
        [addr](hello_atom, const std::string&, const std::string&,
               const caf::actor&, const std::string&,
               const std::string&) -> caf::result<std::string, std::string> {
          return {std::string{"ghost"}, *addr};
        },
      };
    });
    auto port = sys->middleman().publish(actor, 0, "127.0.0.1");
    REQUIRE(port);
    address = "127.0.0.1:" + std::to_string(*port);
    *addr = address;
  }

  ~ghost() {
    caf::anon_send_exit(actor, caf::exit_reason::user_shutdown);
    actor = caf::actor{};
    sys.reset();
  }
};

struct quiet_log {
  quiet_log() {
    set_log_quiet(std::getenv("REGISTRY_TEST_LOG") == nullptr);
  }
  ~quiet_log() {
    set_log_quiet(false);
  }
};

} // namespace

TEST_CASE("a node without seeds is a cluster of one") {
  quiet_log quiet;
  node a{"a", {}};
  auto ms = a.members();
  REQUIRE(ms.size() == 1);
  CHECK(ms[0].name == "a");
  CHECK(ms[0].address == a.address);
  CHECK(ms[0].up);
  CHECK(ms[0].self);

  auto x = a.echo();
  auto y = a.echo();
  CHECK(a.ask<bool>(register_atom_v, std::string{"x"}, x));
  // The same actor again is fine; another actor is refused.
  CHECK(a.ask<bool>(register_atom_v, std::string{"x"}, x));
  CHECK_FALSE(a.ask<bool>(register_atom_v, std::string{"x"}, y));
  CHECK(a.whereis("x") == x);
  CHECK_FALSE(a.whereis("nobody"));
  CHECK(a.ask<std::vector<std::string>>(names_atom_v)
        == std::vector<std::string>{"x"});
  CHECK(a.ask<bool>(unregister_atom_v, std::string{"x"}));
  CHECK_FALSE(a.ask<bool>(unregister_atom_v, std::string{"x"}));
  CHECK_FALSE(a.whereis("x"));

  // An empty group answers a multicall at once, with nothing.
  auto none = a.ask<std::vector<caf::message>>(
    multicall_atom_v, std::string{"g"}, caf::make_message(std::string{"hi"}),
    uint64_t{1000});
  CHECK(none.empty());
  CHECK(a.ask<bool>(caf::join_atom_v, std::string{"g"}, x));
  CHECK_FALSE(a.ask<bool>(caf::join_atom_v, std::string{"g"}, x));
  CHECK(a.ask<bool>(caf::join_atom_v, std::string{"g"}, y));
  CHECK(a.group("g").size() == 2);
  CHECK(a.ask<bool>(caf::leave_atom_v, std::string{"g"}, y));
  CHECK(a.group("g") == std::vector<caf::actor>{x});

  // A registered actor that dies loses its name and its groups.
  CHECK(a.ask<bool>(register_atom_v, std::string{"y"}, y));
  CHECK(a.ask<bool>(caf::join_atom_v, std::string{"g2"}, y));
  caf::anon_send_exit(y, caf::exit_reason::user_shutdown);
  CHECK(eventually([&] { return !a.whereis("y") && a.group("g2").empty(); }));
  // ...and then the name is free again.
  CHECK(a.ask<bool>(register_atom_v, std::string{"y"}, x));

  // Invalid handles are refused.
  CHECK(a.ask_fails(register_atom_v, std::string{"z"}, caf::actor{}));
}

TEST_CASE("a member that stops heartbeating goes down") {
  quiet_log quiet;
  ghost g;
  node a{"a", {g.address}};
  caf::scoped_actor listener{*a.sys};
  listener->send(a.reg, caf::subscribe_atom_v,
                 caf::actor_cast<caf::actor>(listener));
  // The ghost answers hello, so it comes up; it never sends a heartbeat, so
  // after failure_timeout_ms it goes down although its connection stays.
  // (The reconnect loop then brings it up again: hello is all it takes.)
  bool up = false;
  bool down = false;
  listener->receive_while([&] { return !down; })(
    [&](member_up_atom, const std::string& name, const std::string& address) {
      if (name == "ghost") {
        up = true;
        CHECK(address == g.address);
      }
    },
    [&](member_down_atom, const std::string& name) {
      CHECK(name == "ghost");
      down = true;
    },
    caf::after(deadline) >> [&] {
      down = true;
      FAIL("ghost never went down");
    });
  CHECK(up);
}

TEST_CASE("three nodes: membership, names, groups, failure and restart") {
  quiet_log quiet;
  node a{"a", {}};
  // A listener on a, subscribed before anyone joins.
  caf::scoped_actor listener{*a.sys};
  listener->send(a.reg, caf::subscribe_atom_v,
                 caf::actor_cast<caf::actor>(listener));
  auto b = std::make_unique<node>("b", std::vector<std::string>{a.address});
  node c{"c", {a.address}};

  INFO("a " << a.address << ", b " << b->address << ", c " << c.address);
  REQUIRE(eventually([&] {
    return a.sees_up({"a", "b", "c"}) && b->sees_up({"a", "b", "c"})
           && c.sees_up({"a", "b", "c"});
  }));
  for (auto& m : c.members())
    if (m.name == "b")
      CHECK(m.address == b->address);

  // The listener heard of every member, a itself first.
  std::set<std::string> heard;
  bool first_is_self = false;
  for (int i = 0; i < 3; ++i)
    listener->receive(
      [&](member_up_atom, const std::string& name, const std::string&) {
        if (heard.empty())
          first_is_self = name == "a";
        heard.insert(name);
      },
      caf::after(deadline) >> [] {});
  CHECK(first_is_self);
  CHECK(heard == std::set<std::string>{"a", "b", "c"});

  // A name registered on b is found on c, and the handle works from c.
  auto store7 = b->echo();
  CHECK(b->ask<bool>(register_atom_v, std::string{"store-7"}, store7));
  REQUIRE(eventually([&] { return bool{c.whereis("store-7")}; }));
  auto found = c.whereis("store-7");
  CHECK(same_actor(found, store7));
  CHECK(c.call(found, "x") == "b:x");
  // c cannot take it while b holds it.
  CHECK_FALSE(c.ask<bool>(register_atom_v, std::string{"store-7"}, c.echo()));

  // Concurrent claims of one name settle on the smallest owner name (a).
  auto dup_a = a.echo();
  auto dup_b = b->echo();
  {
    caf::scoped_actor sa{*a.sys};
    caf::scoped_actor sb{*b->sys};
    sa->send(a.reg, register_atom_v, std::string{"dup"}, dup_a);
    sb->send(b->reg, register_atom_v, std::string{"dup"}, dup_b);
  }
  CHECK(eventually([&] {
    return same_actor(a.whereis("dup"), dup_a)
           && same_actor(b->whereis("dup"), dup_a)
           && same_actor(c.whereis("dup"), dup_a);
  }));

  // A group with members on a and b: a multicall from c gets both answers.
  CHECK(a.ask<bool>(caf::join_atom_v, std::string{"g"}, a.echo()));
  CHECK(b->ask<bool>(caf::join_atom_v, std::string{"g"}, b->echo()));
  REQUIRE(eventually([&] { return c.group("g").size() == 2; }));
  auto replies = c.ask<std::vector<caf::message>>(
    multicall_atom_v, std::string{"g"}, caf::make_message(std::string{"ping"}),
    uint64_t{3000});
  CHECK(replies.size() == 2);
  CHECK(strings(replies) == std::set<std::string>{"a:ping", "b:ping"});

  // A registered actor that dies is unregistered everywhere.
  auto brief = b->echo();
  CHECK(b->ask<bool>(register_atom_v, std::string{"brief"}, brief));
  REQUIRE(eventually([&] { return bool{a.whereis("brief")}; }));
  caf::anon_send_exit(brief, caf::exit_reason::user_shutdown);
  CHECK(eventually([&] { return !a.whereis("brief") && !c.whereis("brief"); }));

  // b stops: a and c hold it down and drop what it owned.
  b->stop();
  CHECK(eventually([&] { return a.sees_up({"a", "c"}) && c.sees_up({"a", "c"}); }));
  CHECK(eventually([&] {
    return !a.whereis("store-7") && !c.whereis("store-7")
           && c.group("g").size() == 1 && a.group("g").size() == 1;
  }));
  bool down = false;
  listener->receive_while([&] { return !down; })(
    [&](member_down_atom, const std::string& name) { down = name == "b"; },
    [&](member_up_atom, const std::string&, const std::string&) {},
    caf::after(deadline) >> [&] { down = true; FAIL("no member_down"); });
  // The multicall now reaches a only.
  replies = c.ask<std::vector<caf::message>>(
    multicall_atom_v, std::string{"g"}, caf::make_message(std::string{"ping"}),
    uint64_t{3000});
  CHECK(strings(replies) == std::set<std::string>{"a:ping"});

  // A new b, on a new port, seeded to c only: everyone holds it up again at
  // its new address, and its names travel.
  b = std::make_unique<node>("b", std::vector<std::string>{c.address});
  REQUIRE(eventually([&] {
    return a.sees_up({"a", "b", "c"}) && b->sees_up({"a", "b", "c"})
           && c.sees_up({"a", "b", "c"});
  }));
  for (auto& m : a.members())
    if (m.name == "b")
      CHECK(m.address == b->address);
  auto store8 = b->echo();
  CHECK(b->ask<bool>(register_atom_v, std::string{"store-8"}, store8));
  CHECK(eventually([&] { return same_actor(a.whereis("store-8"), store8); }));
  // The new b got a's and c's shares on hello.
  CHECK(same_actor(b->whereis("dup"), dup_a));
  CHECK(b->group("g").size() == 1);

  b->stop();
}

// -- the cluster secret ----------------------------------------------------------

/// The registry of `to` as a peer gets it: through `self`'s middleman.
caf::actor reach_registry(caf::scoped_actor& self, node& to) {
  caf::actor remote;
  self
    ->request(self->system().middleman().actor_handle(), deadline,
              caf::connect_atom_v, std::string{"127.0.0.1"},
              static_cast<uint16_t>(
                std::stoi(to.address.substr(to.address.rfind(':') + 1))))
    .receive(
      [&](const caf::node_id&, caf::strong_actor_ptr& ptr,
          const std::set<std::string>&) {
        remote = caf::actor_cast<caf::actor>(ptr);
      },
      [&](caf::error& err) { FAIL(self->system().render(err)); });
  REQUIRE(remote);
  return remote;
}

TEST_CASE("nodes with one cluster secret join; a node with another, or "
          "none, never does and learns no name") {
  quiet_log quiet;
  const std::string secret = "the-secret-of-this-cluster-0123456789";
  node a{"a", {}, secret};
  auto store = a.echo();
  REQUIRE(a.ask<bool>(register_atom_v, std::string{"store-1"}, store));
  node b{"b", {a.address}, secret};
  node intruder{"x", {a.address}, "another-secret-0123456789abcdef"};
  node plain{"p", {a.address}};
  INFO("a " << a.address << ", b " << b.address << ", x "
            << intruder.address << ", p " << plain.address);
  REQUIRE(eventually([&] { return a.sees_up({"a", "b"}) && b.sees_up({"a", "b"}); }));
  // b learned a's names; the others nothing, though they keep trying (the
  // reconnect interval is 200 ms here: give them a few rounds).
  CHECK(eventually([&] { return same_actor(b.whereis("store-1"), store); }));
  std::this_thread::sleep_for(1s);
  for (auto* n : {&intruder, &plain}) {
    auto ms = n->members();
    for (auto& m : ms)
      CHECK_MESSAGE((m.self || !m.up), n->name << " sees " << m.name << " up");
    CHECK_FALSE(n->whereis("store-1"));
  }
  for (auto& m : a.members())
    CHECK_MESSAGE((m.name == "a" || m.name == "b"), "a lists " << m.name);
  for (auto& m : b.members())
    CHECK_MESSAGE((m.name == "a" || m.name == "b"), "b lists " << m.name);
}

TEST_CASE("the registry's local interface refuses other nodes") {
  quiet_log quiet;
  node a{"a", {}};
  auto store = a.echo();
  REQUIRE(a.ask<bool>(register_atom_v, std::string{"store-1"}, store));
  // Another actor system reaches a's published registry as a peer would,
  // and asks what only a's own actors may ask.
  node other{"o", {}};
  caf::scoped_actor self{*other.sys};
  auto remote = reach_registry(self, a);
  REQUIRE(remote);
  auto refused = [&](auto... xs) {
    bool failed = false;
    self->request(remote, deadline, xs...)
      .receive([&](caf::message&) {}, [&](caf::error&) { failed = true; });
    return failed;
  };
  CHECK(refused(whereis_atom_v, std::string{"store-1"}));
  CHECK(refused(names_atom_v));
  CHECK(refused(members_atom_v));
  CHECK(refused(register_atom_v, std::string{"store-2"},
                other.echo()));
  // A hello whose challenge was never handed out is refused too.
  CHECK(refused(hello_atom_v, std::string{"o"}, std::string{"127.0.0.1:1"},
                caf::actor_cast<caf::actor>(self), std::string(32, 'n'),
                std::string{}));
  CHECK(a.ask<std::vector<std::string>>(names_atom_v)
        == std::vector<std::string>{"store-1"});
}

TEST_CASE("hello challenges beyond challenges_max push out the oldest") {
  quiet_log quiet;
  node a{"a", {}, {}, 2};
  node other{"o", {}};
  caf::scoped_actor self{*other.sys};
  auto remote = reach_registry(self, a);
  // Three challenges: the first is pushed out by the third.
  std::vector<std::string> nonces;
  for (int i = 0; i < 3; ++i)
    self->request(remote, deadline, hello_atom_v, peer_secret::make_nonce())
      .receive(
        [&](std::string& nonce, std::string& proof) {
          CHECK(proof.empty()); // no secret: no proof
          nonces.push_back(std::move(nonce));
        },
        [&](caf::error& err) { FAIL(other.sys->render(err)); });
  REQUIRE(nonces.size() == 3);
  auto hello = [&](const std::string& nonce) {
    bool ok = false;
    self
      ->request(remote, deadline, hello_atom_v, std::string{"o"},
                other.address, caf::actor_cast<caf::actor>(self), nonce,
                std::string{})
      .receive([&](std::string&, std::string&) { ok = true; },
               [&](caf::error&) {});
    return ok;
  };
  CHECK_FALSE(hello(nonces[0]));
  CHECK(hello(nonces[2]));
  // A challenge is good for one hello.
  CHECK_FALSE(hello(nonces[2]));
}
