#include "actors/registry.hpp"

#include <algorithm>
#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <set>

#include "caf/actor_system.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/io/middleman.hpp"
#include "caf/send.hpp"
#include "caf/stateful_actor.hpp"

#include "actors/assert.hpp"
#include "actors/log.hpp"
#include "actors/type_ids.hpp"

namespace cxesdb::actors {

namespace {

using time_point = caf::actor_clock::time_point;

/// A stray error is logged the first time and then once per this many, so
/// that a misbehaving peer cannot flood the log.
constexpr uint64_t stray_errors_log_every = 1000;

/// Refused hellos are logged the first time and then once per this many.
constexpr uint64_t refused_hellos_log_every = 100;

/// A hello challenge handed out: the caller's nonce, and when.
struct challenge {
  std::string their_nonce;
  caf::actor_clock::time_point at;
};

/// Another node as this registry sees it.
struct member {
  std::string address;
  /// The member's registry while up; invalid while down.
  caf::actor handle;
  bool up = false;
  /// When a heartbeat, gossip or hello last came from the member.
  time_point last_heard;
  /// While down: since when (it went down, or was first heard of).
  time_point down_since;
};

/// What this node registered for one local or remote actor: the reason it
/// monitors the actor.
struct owned_refs {
  caf::actor handle;
  std::set<std::string> names;
  std::set<std::string> groups;
};

/// One multicall in flight: the replies so far and the requests still open.
struct multicall_state {
  caf::response_promise rp;
  std::vector<caf::message> replies;
  size_t pending = 0;
};

struct registry_state {
  registry_config cfg;
  /// "host:port" once the port is known; empty before.
  std::string address;

  /// Every other node ever heard of, by name (bounded by members_max - 1).
  std::map<std::string, member> members;
  /// Addresses with a connect or hello in flight: one attempt at a time.
  std::set<std::string> connecting;
  /// Seed addresses that turned out to reach this very registry.
  std::set<std::string> self_aliases;
  /// Hello challenges not answered yet, by the nonce handed out, and that
  /// nonce in the order they went out (bounded by challenges_max).
  std::map<std::string, challenge> challenges;
  std::deque<std::string> challenge_order;
  /// Hellos refused for a wrong proof; addresses that failed to prove the
  /// secret to this node (each logged once).
  uint64_t refused_hellos = 0;
  std::set<std::string> unproven_addresses;
  /// Set after warning that members_max refused a member, to warn once.
  bool members_full_warned = false;

  /// The replicated name table: name -> owner node -> actor. The entry of
  /// the smallest owner name is the one `whereis` answers.
  std::map<std::string, std::map<std::string, caf::actor>> names;
  /// The replicated groups: group -> owner node -> members added there.
  std::map<std::string, std::map<std::string, std::vector<caf::actor>>>
    groups;
  /// Entries in `names` and `groups` together, bounded by names_max.
  size_t entries = 0;
  bool names_full_warned = false;

  /// This node's registrations, by the actor they name (monitored).
  std::map<caf::actor_addr, owned_refs> owned;

  /// Actors told about member changes (monitored).
  std::vector<caf::actor> listeners;

  size_t multicalls = 0;

  /// Errors received that answered no request of ours (see the error
  /// handler).
  uint64_t stray_errors = 0;

  static inline const char* name = "registry";
};

using registry_actor = caf::stateful_actor<registry_state>;

// -- helpers: addresses -------------------------------------------------------

/// Splits "host:port" at its last colon; false when malformed.
bool split_address(const std::string& address, std::string& host,
                   uint16_t& port) {
  auto colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0
      || colon + 1 == address.size())
    return false;
  unsigned long value = 0;
  for (auto i = colon + 1; i < address.size(); ++i) {
    char c = address[i];
    if (c < '0' || c > '9')
      return false;
    value = value * 10 + static_cast<unsigned long>(c - '0');
    if (value > 65535)
      return false;
  }
  if (value == 0)
    return false;
  host = address.substr(0, colon);
  port = static_cast<uint16_t>(value);
  return true;
}

std::chrono::milliseconds ms(uint64_t x) {
  return std::chrono::milliseconds{static_cast<int64_t>(x)};
}

/// Whether the current message comes from an actor of this node: the
/// local interface answers nothing else (a peer that could read the name
/// table would learn every actor of the node).
bool local_call(registry_actor* self) {
  auto& sender = self->current_sender();
  return sender && sender->node() == self->node();
}

caf::error not_local() {
  return caf::make_error(caf::sec::unexpected_message,
                         "registry: this call is for the node's own actors");
}

/// Hands out a hello challenge for `their_nonce` and returns its nonce;
/// drops expired challenges and, when full, the oldest.
std::string add_challenge(registry_actor* self, std::string their_nonce) {
  auto& st = self->state;
  auto now = self->clock().now();
  auto ttl = std::chrono::milliseconds{
    static_cast<int64_t>(st.cfg.connect_timeout_ms)};
  while (!st.challenge_order.empty()) {
    auto i = st.challenges.find(st.challenge_order.front());
    if (i != st.challenges.end() && now - i->second.at < ttl
        && st.challenges.size() < st.cfg.challenges_max)
      break;
    if (i != st.challenges.end())
      st.challenges.erase(i);
    st.challenge_order.pop_front();
  }
  auto nonce = peer_secret::make_nonce();
  st.challenges.emplace(nonce, challenge{std::move(their_nonce), now});
  st.challenge_order.push_back(nonce);
  return nonce;
}

bool sent_by(registry_actor* self, const member& m) {
  return m.up && self->current_sender()
         && self->current_sender() == caf::actor_cast<caf::strong_actor_ptr>(
              m.handle);
}

/// The up member `from` when the current message comes from its registry,
/// or nullptr: messages from members this node holds down, or from a stale
/// incarnation, are ignored until the next hello.
member* up_sender(registry_actor* self, const std::string& from) {
  auto i = self->state.members.find(from);
  if (i == self->state.members.end() || !sent_by(self, i->second))
    return nullptr;
  return &i->second;
}

template <class... Ts>
void broadcast(registry_actor* self, const Ts&... xs) {
  for (auto& [name, m] : self->state.members)
    if (m.up)
      self->send(m.handle, xs...);
}

template <class... Ts>
void notify(registry_actor* self, const Ts&... xs) {
  for (auto& l : self->state.listeners)
    self->send(l, xs...);
}

/// Stops monitoring `a` unless it still matters for another reason: one
/// actor may be a member's registry, a listener and a registered actor at
/// once, and `demonitor` removes every monitor of it.
void unwatch_if_unused(registry_actor* self, const caf::actor& a) {
  auto& st = self->state;
  auto addr = caf::actor_cast<caf::actor_addr>(a);
  if (st.owned.count(addr) > 0)
    return;
  if (std::find(st.listeners.begin(), st.listeners.end(), a)
      != st.listeners.end())
    return;
  for (auto& kvp : st.members)
    if (kvp.second.up && kvp.second.handle == a)
      return;
  self->demonitor(a);
}

// -- helpers: the replicated table --------------------------------------------

bool table_full(registry_actor* self) {
  auto& st = self->state;
  if (st.entries < st.cfg.names_max)
    return false;
  if (!st.names_full_warned) {
    st.names_full_warned = true;
    log_warning("registry " + st.cfg.node_name + ": names_max ("
                + std::to_string(st.cfg.names_max)
                + ") reached, further registrations are refused");
  }
  return true;
}

/// The actor holding `name`, or nullptr.
const caf::actor* winner(registry_state& st, const std::string& name) {
  auto i = st.names.find(name);
  if (i == st.names.end())
    return nullptr;
  CXESDB_ASSERT(!i->second.empty());
  return &i->second.begin()->second;
}

/// Sets owner's entry for name; false when the table is full.
bool put_name(registry_actor* self, const std::string& name,
              const std::string& owner, const caf::actor& a) {
  auto& st = self->state;
  auto& owners = st.names[name];
  auto i = owners.find(owner);
  if (i != owners.end()) {
    i->second = a;
    return true;
  }
  if (table_full(self)) {
    if (owners.empty())
      st.names.erase(name);
    return false;
  }
  owners.emplace(owner, a);
  ++st.entries;
  return true;
}

void erase_name(registry_state& st, const std::string& name,
                const std::string& owner) {
  auto i = st.names.find(name);
  if (i == st.names.end())
    return;
  if (i->second.erase(owner) > 0) {
    CXESDB_ASSERT(st.entries > 0);
    --st.entries;
  }
  if (i->second.empty())
    st.names.erase(i);
}

/// Adds a to owner's share of group; false when already there or full.
bool put_member(registry_actor* self, const std::string& group,
                const std::string& owner, const caf::actor& a) {
  auto& st = self->state;
  auto& owners = st.groups[group];
  auto& actors = owners[owner];
  if (std::find(actors.begin(), actors.end(), a) != actors.end())
    return false;
  if (table_full(self)) {
    if (actors.empty())
      owners.erase(owner);
    if (owners.empty())
      st.groups.erase(group);
    return false;
  }
  actors.push_back(a);
  ++st.entries;
  return true;
}

bool erase_member(registry_state& st, const std::string& group,
                  const std::string& owner, const caf::actor& a) {
  auto g = st.groups.find(group);
  if (g == st.groups.end())
    return false;
  auto o = g->second.find(owner);
  if (o == g->second.end())
    return false;
  auto& actors = o->second;
  auto i = std::find(actors.begin(), actors.end(), a);
  if (i == actors.end())
    return false;
  actors.erase(i);
  CXESDB_ASSERT(st.entries > 0);
  --st.entries;
  if (actors.empty())
    g->second.erase(o);
  if (g->second.empty())
    st.groups.erase(g);
  return true;
}

/// Drops every entry owned by `owner` (a node gone down or replacing its
/// share).
void erase_owner(registry_state& st, const std::string& owner) {
  for (auto i = st.names.begin(); i != st.names.end();) {
    if (i->second.erase(owner) > 0)
      --st.entries;
    i = i->second.empty() ? st.names.erase(i) : std::next(i);
  }
  for (auto g = st.groups.begin(); g != st.groups.end();) {
    auto o = g->second.find(owner);
    if (o != g->second.end()) {
      CXESDB_ASSERT(st.entries >= o->second.size());
      st.entries -= o->second.size();
      g->second.erase(o);
    }
    g = g->second.empty() ? st.groups.erase(g) : std::next(g);
  }
}

// -- helpers: this node's registrations ---------------------------------------

owned_refs& own(registry_actor* self, const caf::actor& a) {
  auto addr = caf::actor_cast<caf::actor_addr>(a);
  auto i = self->state.owned.find(addr);
  if (i == self->state.owned.end()) {
    self->monitor(a);
    i = self->state.owned.emplace(addr, owned_refs{a, {}, {}}).first;
  }
  return i->second;
}

void release_if_unused(registry_actor* self, const caf::actor_addr& addr) {
  auto i = self->state.owned.find(addr);
  if (i != self->state.owned.end() && i->second.names.empty()
      && i->second.groups.empty()) {
    auto handle = std::move(i->second.handle);
    self->state.owned.erase(i);
    unwatch_if_unused(self, handle);
  }
}

/// Removes this node's registration of name and tells the members.
bool unregister_own(registry_actor* self, const std::string& name) {
  auto& st = self->state;
  auto i = st.names.find(name);
  if (i == st.names.end())
    return false;
  auto j = i->second.find(st.cfg.node_name);
  if (j == i->second.end())
    return false;
  auto addr = caf::actor_cast<caf::actor_addr>(j->second);
  erase_name(st, name, st.cfg.node_name);
  auto o = st.owned.find(addr);
  CXESDB_ASSERT(o != st.owned.end());
  o->second.names.erase(name);
  release_if_unused(self, addr);
  broadcast(self, names_atom_v, unregister_atom_v, st.cfg.node_name, name);
  return true;
}

bool leave_own(registry_actor* self, const std::string& group,
               const caf::actor& a) {
  auto& st = self->state;
  if (!erase_member(st, group, st.cfg.node_name, a))
    return false;
  auto addr = caf::actor_cast<caf::actor_addr>(a);
  auto o = st.owned.find(addr);
  CXESDB_ASSERT(o != st.owned.end());
  o->second.groups.erase(group);
  release_if_unused(self, addr);
  broadcast(self, names_atom_v, caf::leave_atom_v, st.cfg.node_name, group, a);
  return true;
}

/// After `owner`'s entry for name arrived: when this node holds the name too
/// and `owner` sorts first, this node's registration lost the conflict.
void resolve_conflict(registry_actor* self, const std::string& name,
                      const std::string& owner) {
  auto& st = self->state;
  if (!(owner < st.cfg.node_name))
    return;
  auto i = st.names.find(name);
  if (i == st.names.end() || i->second.count(st.cfg.node_name) == 0)
    return;
  log_warning("registry " + st.cfg.node_name + ": name '" + name
              + "' is registered on " + owner
              + " as well; it wins, dropping this node's registration");
  unregister_own(self, name);
}

/// This node's whole share of the table, for a member that just came up.
void send_share(registry_actor* self, const caf::actor& to) {
  auto& st = self->state;
  std::vector<std::string> names;
  std::vector<caf::actor> name_actors;
  for (auto& [name, owners] : st.names) {
    auto i = owners.find(st.cfg.node_name);
    if (i != owners.end()) {
      names.push_back(name);
      name_actors.push_back(i->second);
    }
  }
  std::vector<std::string> groups;
  std::vector<caf::actor> group_actors;
  for (auto& [group, owners] : st.groups) {
    auto i = owners.find(st.cfg.node_name);
    if (i == owners.end())
      continue;
    for (auto& a : i->second) {
      groups.push_back(group);
      group_actors.push_back(a);
    }
  }
  self->send(to, names_atom_v, st.cfg.node_name, std::move(names),
             std::move(name_actors), std::move(groups),
             std::move(group_actors));
}

/// Whether a new member `name` fits within members_max (this node counts).
bool room_for_member(registry_actor* self, const std::string& name) {
  auto& st = self->state;
  if (st.members.size() + 1 < st.cfg.members_max)
    return true;
  if (!st.members_full_warned) {
    st.members_full_warned = true;
    log_warning("registry " + st.cfg.node_name + ": members_max ("
                + std::to_string(st.cfg.members_max) + ") reached, ignoring "
                + name + " and later nodes");
  }
  return false;
}

// -- helpers: membership ------------------------------------------------------

void member_down(registry_actor* self, const std::string& name,
                 const std::string& why) {
  auto& st = self->state;
  auto i = st.members.find(name);
  CXESDB_ASSERT(i != st.members.end());
  auto& m = i->second;
  if (!m.up)
    return;
  auto handle = std::move(m.handle);
  m.handle = caf::actor{};
  m.up = false;
  m.down_since = self->clock().now();
  unwatch_if_unused(self, handle);
  erase_owner(st, name);
  log_warning("registry " + st.cfg.node_name + ": member " + name + " at "
              + m.address + " is down (" + why + ")");
  notify(self, member_down_atom_v, name);
}

/// Records `name` as up at `address` with registry `handle`; false when the
/// member cannot be admitted (members_max). A member up with another handle
/// restarted: its old incarnation goes down first.
bool member_up(registry_actor* self, const std::string& name,
               const std::string& address, const caf::actor& handle) {
  auto& st = self->state;
  CXESDB_ASSERT(name != st.cfg.node_name);
  CXESDB_ASSERT(handle);
  auto i = st.members.find(name);
  if (i == st.members.end()) {
    if (!room_for_member(self, name))
      return false;
    i = st.members.emplace(name, member{}).first;
  }
  auto& m = i->second;
  if (m.up && m.handle == handle) {
    m.address = address;
    m.last_heard = self->clock().now();
    return true;
  }
  if (m.up)
    member_down(self, name, "restarted");
  m.address = address;
  m.handle = handle;
  m.up = true;
  m.last_heard = self->clock().now();
  self->monitor(handle);
  log_info("registry " + st.cfg.node_name + ": member " + name + " at "
           + address + " is up");
  notify(self, member_up_atom_v, name, address);
  return true;
}

/// Reaches the registry published at `address` and exchanges hellos, without
/// blocking: the middleman actor connects (or reuses its connection) and
/// answers with the published actor.
void reach(registry_actor* self, const std::string& address) {
  auto& st = self->state;
  if (st.address.empty() || address == st.address
      || st.self_aliases.count(address) > 0
      || st.connecting.count(address) > 0)
    return;
  std::string host;
  uint16_t port = 0;
  if (!split_address(address, host, port))
    return;
  st.connecting.insert(address);
  auto timeout = ms(st.cfg.connect_timeout_ms);
  auto failed = [self, address](const caf::error&) {
    // Peers that are down fail here every reconnect interval: no log line.
    self->state.connecting.erase(address);
  };
  self
    ->request(st.cfg.connector ? st.cfg.connector
                               : caf::actor_cast<caf::actor>(
                                 self->system().middleman().actor_handle()),
              timeout, caf::connect_atom_v, host, port)
    .then(
      [self, address, timeout,
       failed](const caf::node_id&, const caf::strong_actor_ptr& ptr,
               const std::set<std::string>&) {
        auto& st = self->state;
        auto remote = caf::actor_cast<caf::actor>(ptr);
        if (!remote) {
          st.connecting.erase(address);
          return;
        }
        if (remote == caf::actor_cast<caf::actor>(self)) {
          st.self_aliases.insert(address);
          st.connecting.erase(address);
          return;
        }
        // The challenge first: the peer proves it holds the secret before
        // this node tells it anything, then this node proves it.
        auto my_nonce = peer_secret::make_nonce();
        self->request(remote, timeout, hello_atom_v, my_nonce)
          .then(
            [self, address, remote, timeout, my_nonce,
             failed](const std::string& their_nonce,
                     const std::string& proof) {
              auto& st = self->state;
              if (!st.cfg.secret.verify(proof, peer_secret::role::answer,
                                        my_nonce, their_nonce, "", "")) {
                st.connecting.erase(address);
                if (st.unproven_addresses.insert(address).second)
                  log_warning("registry " + st.cfg.node_name + ": " + address
                              + " does not prove this cluster's secret; "
                                "not joining it");
                return;
              }
              st.unproven_addresses.erase(address);
              self
                ->request(remote, timeout, hello_atom_v, st.cfg.node_name,
                          st.address, caf::actor_cast<caf::actor>(self),
                          their_nonce,
                          st.cfg.secret.proof(peer_secret::role::hello,
                                              their_nonce, my_nonce,
                                              st.cfg.node_name, st.address))
                .then(
                  [self, address, remote](const std::string& name,
                                          const std::string& their_address) {
                    auto& st = self->state;
                    st.connecting.erase(address);
                    if (name == st.cfg.node_name) {
                      log_error("registry " + st.cfg.node_name + ": " + address
                                + " claims this node's name");
                      st.self_aliases.insert(address);
                      return;
                    }
                    if (member_up(self, name, their_address, remote))
                      send_share(self, remote);
                  },
                  failed);
            },
            failed);
      },
      failed);
}

/// Every reconnect interval: seeds no up member answers for, and members
/// that are down.
/// Whether this node reaches the down member `name` now. Two nodes that
/// reach each other at once make two connections, and CAF closes one as
/// redundant, which can take the other down with it; with both retrying on
/// the same beat that repeats forever. So the node with the smaller name
/// reaches first, and the other only once the member has been down for a
/// failure timeout (one-way reachability still heals).
bool reaches_now(registry_actor* self, const std::string& name,
                 const member& m) {
  auto& st = self->state;
  return st.cfg.node_name < name
         || self->clock().now() - m.down_since
              >= ms(st.cfg.failure_timeout_ms);
}

void reach_all(registry_actor* self) {
  auto& st = self->state;
  std::set<std::string> known;
  std::vector<std::string> down;
  for (auto& [name, m] : st.members) {
    known.insert(m.address);
    if (!m.up && reaches_now(self, name, m))
      down.push_back(m.address);
  }
  // A seed that is a known member follows the member's rule.
  for (auto& seed : st.cfg.seeds)
    if (known.count(seed) == 0)
      reach(self, seed);
  for (auto& address : down)
    reach(self, address);
}

/// Every heartbeat interval: heartbeats and gossip out, silent members down.
void heartbeat(registry_actor* self) {
  auto& st = self->state;
  auto now = self->clock().now();
  std::vector<std::string> silent;
  for (auto& [name, m] : st.members)
    if (m.up && now - m.last_heard > ms(st.cfg.failure_timeout_ms))
      silent.push_back(name);
  for (auto& name : silent)
    member_down(self, name, "no heartbeat");
  std::vector<std::string> up{st.cfg.node_name, st.address};
  for (auto& [name, m] : st.members) {
    if (m.up) {
      up.push_back(name);
      up.push_back(m.address);
    }
  }
  broadcast(self, heartbeat_atom_v, st.cfg.node_name);
  broadcast(self, gossip_atom_v, st.cfg.node_name, up);
}

void start(registry_actor* self) {
  auto& st = self->state;
  CXESDB_ASSERT(st.cfg.port != 0);
  CXESDB_ASSERT(st.address.empty());
  st.address = st.cfg.host + ":" + std::to_string(st.cfg.port);
  log_info("registry " + st.cfg.node_name + ": cluster address "
           + st.address + ", " + std::to_string(st.cfg.seeds.size())
           + " seed(s)");
  reach_all(self);
  self->delayed_send(self, ms(st.cfg.heartbeat_interval_ms), tick_atom_v);
  self->delayed_send(self, ms(st.cfg.reconnect_interval_ms), tick_atom_v,
                     caf::connect_atom_v);
}

caf::behavior registry(registry_actor* self, registry_config cfg) {
  CXESDB_ASSERT(!cfg.node_name.empty());
  CXESDB_ASSERT(cfg.heartbeat_interval_ms > 0);
  CXESDB_ASSERT(cfg.failure_timeout_ms > cfg.heartbeat_interval_ms);
  CXESDB_ASSERT(cfg.reconnect_interval_ms > 0);
  CXESDB_ASSERT(cfg.connect_timeout_ms > 0);
  CXESDB_ASSERT(cfg.members_max >= 1);
  CXESDB_ASSERT(cfg.multicall_timeout_ms_max > 0);
  for (auto& seed : cfg.seeds) {
    std::string host;
    uint16_t port = 0;
    if (!split_address(seed, host, port))
      log_error("registry " + cfg.node_name + ": ignoring seed '" + seed
                + "', expected host:port");
  }
  self->state.cfg = std::move(cfg);
  // A monitored actor went away: a member's registry (connection lost or
  // node stopped), a listener, or an actor this node registered. One actor
  // may be several of these. Called by CAF's monitoring; must not block.
  self->set_down_handler([self](const caf::down_msg& msg) {
    auto& st = self->state;
    std::vector<std::string> lost;
    for (auto& [name, m] : st.members)
      if (m.up && caf::actor_cast<caf::actor_addr>(m.handle) == msg.source)
        lost.push_back(name);
    for (auto& name : lost)
      member_down(self, name, "connection lost");
    auto& ls = st.listeners;
    ls.erase(std::remove_if(ls.begin(), ls.end(),
                            [&](const caf::actor& l) {
                              return l.address() == msg.source;
                            }),
             ls.end());
    auto o = st.owned.find(msg.source);
    if (o != st.owned.end()) {
      auto refs = o->second;
      for (auto& name : refs.names)
        unregister_own(self, name);
      for (auto& group : refs.groups)
        leave_own(self, group, refs.handle);
      CXESDB_ASSERT(st.owned.count(msg.source) == 0);
    }
  });
  // An error that is no reply to a request of ours: a peer or a local
  // actor answered a one-way message with an error (an actor without a
  // handler for it does that). CAF's default would stop the registry; it
  // must outlive any misbehaving peer.
  self->set_error_handler([self](caf::error& err) {
    auto n = ++self->state.stray_errors;
    if (n == 1 || n % stray_errors_log_every == 0)
      log_warning("registry " + self->state.cfg.node_name + ": error from "
                  + caf::to_string(self->current_sender()) + ": "
                  + self->system().render(err) + " (" + std::to_string(n)
                  + " so far)");
  });
  // A message no handler takes (a peer of another version, a wrong call):
  // logged and dropped; a request gets an error back.
  self->set_default_handler(
    [](caf::scheduled_actor* ptr,
       caf::message_view& x) -> caf::result<caf::message> {
      log_warning("registry: unexpected message " + caf::to_string(
                    x.content()));
      return caf::drop(ptr, x);
    });
  if (self->state.cfg.port != 0)
    start(self);
  return {
    // -- the node's own calls ------------------------------------------------

    // The node's main, once, after publishing the registry on the cluster
    // port. Starts membership work; a second call with another port is a
    // programmer error.
    [self](caf::publish_atom, uint16_t port) {
      auto& st = self->state;
      // Sent anonymously by main, so a sender cannot tell; a second call
      // (from anywhere) changes nothing.
      if (port == 0 || !st.address.empty())
        return;
      st.cfg.port = port;
      start(self);
    },
    // Tools, tests and the cluster layer: who the members are. Answered from
    // local state.
    [self](members_atom) -> caf::result<std::vector<member_info>> {
      if (!local_call(self))
        return not_local();
      auto& st = self->state;
      std::vector<member_info> result;
      result.push_back({st.cfg.node_name, st.address, true, true});
      for (auto& [name, m] : st.members)
        result.push_back({name, m.address, m.up, false});
      return result;
    },
    // Actors that follow membership (the cluster layer, placement). They get
    // the current up members at once, then every change.
    [self](caf::subscribe_atom, const caf::actor& listener) {
      auto& st = self->state;
      if (!listener || !local_call(self))
        return;
      if (std::find(st.listeners.begin(), st.listeners.end(), listener)
          == st.listeners.end()) {
        self->monitor(listener);
        st.listeners.push_back(listener);
      }
      self->send(listener, member_up_atom_v, st.cfg.node_name, st.address);
      for (auto& [name, m] : st.members)
        if (m.up)
          self->send(listener, member_up_atom_v, name, m.address);
    },
    [self](caf::unsubscribe_atom, const caf::actor& listener) {
      if (!local_call(self))
        return;
      auto& ls = self->state.listeners;
      auto i = std::find(ls.begin(), ls.end(), listener);
      if (i != ls.end()) {
        ls.erase(i);
        unwatch_if_unused(self, listener);
      }
    },
    // Any local actor: claims a name cluster-wide. Refuses a name another
    // actor holds in this node's replica; concurrent claims on two nodes are
    // settled by owner name (see the header).
    [self](register_atom, const std::string& name,
           const caf::actor& a) -> caf::result<bool> {
      auto& st = self->state;
      if (!local_call(self))
        return not_local();
      if (!a)
        return caf::make_error(caf::sec::invalid_argument,
                               "register: invalid actor");
      if (auto w = winner(st, name))
        return *w == a;
      if (!put_name(self, name, st.cfg.node_name, a))
        return caf::make_error(caf::sec::runtime_error,
                               "register: names_max reached");
      own(self, a).names.insert(name);
      broadcast(self, names_atom_v, register_atom_v, st.cfg.node_name, name,
                a);
      return true;
    },
    // Any local actor: gives up a name this node registered.
    [self](unregister_atom, const std::string& name) -> caf::result<bool> {
      if (!local_call(self))
        return not_local();
      return unregister_own(self, name);
    },
    // Any local actor (the gateway on every request): where a name is.
    // Local replica only; must stay cheap.
    [self](whereis_atom, const std::string& name) -> caf::result<caf::actor> {
      if (!local_call(self))
        return not_local();
      auto w = winner(self->state, name);
      return w ? *w : caf::actor{};
    },
    [self](names_atom) -> caf::result<std::vector<std::string>> {
      if (!local_call(self))
        return not_local();
      std::vector<std::string> result;
      for (auto& kvp : self->state.names)
        result.push_back(kvp.first);
      return result;
    },
    // Any local actor: adds an actor to a group cluster-wide.
    [self](caf::join_atom, const std::string& group,
           const caf::actor& a) -> caf::result<bool> {
      auto& st = self->state;
      if (!local_call(self))
        return not_local();
      if (!a)
        return caf::make_error(caf::sec::invalid_argument,
                               "join: invalid actor");
      auto g = st.groups.find(group);
      if (g != st.groups.end()) {
        auto o = g->second.find(st.cfg.node_name);
        if (o != g->second.end()
            && std::find(o->second.begin(), o->second.end(), a)
                 != o->second.end())
          return false;
      }
      if (!put_member(self, group, st.cfg.node_name, a))
        return caf::make_error(caf::sec::runtime_error,
                               "join: names_max reached");
      own(self, a).groups.insert(group);
      broadcast(self, names_atom_v, caf::join_atom_v, st.cfg.node_name, group,
                a);
      return true;
    },
    [self](caf::leave_atom, const std::string& group,
           const caf::actor& a) -> caf::result<bool> {
      if (!local_call(self))
        return not_local();
      return leave_own(self, group, a);
    },
    // Any local actor: a group's members, from the local replica.
    [self](members_atom,
           const std::string& group) -> caf::result<std::vector<caf::actor>> {
      if (!local_call(self))
        return not_local();
      std::vector<caf::actor> result;
      auto g = self->state.groups.find(group);
      if (g == self->state.groups.end())
        return result;
      for (auto& [owner, actors] : g->second)
        for (auto& a : actors)
          if (std::find(result.begin(), result.end(), a) == result.end())
            result.push_back(a);
      return result;
    },
    // Any local actor: asks every member of a group and collects the
    // answers. The registry only waits for replies; it never blocks. A
    // reply of any type counts: CAF 0.17 hands a reply no handler matches to
    // the error handler as `unexpected_response` with the reply as context,
    // which is how replies of unknown types are collected here.
    [self](multicall_atom, const std::string& group, const caf::message& msg,
           uint64_t timeout_ms) -> caf::result<std::vector<caf::message>> {
      auto& st = self->state;
      if (!local_call(self))
        return not_local();
      std::vector<caf::actor> targets;
      if (auto g = st.groups.find(group); g != st.groups.end())
        for (auto& [owner, actors] : g->second)
          for (auto& a : actors)
            if (std::find(targets.begin(), targets.end(), a) == targets.end())
              targets.push_back(a);
      if (targets.empty())
        return std::vector<caf::message>{};
      if (st.multicalls >= st.cfg.multicalls_max)
        return caf::make_error(caf::sec::runtime_error,
                               "multicall: multicalls_max in flight");
      ++st.multicalls;
      auto call = std::make_shared<multicall_state>();
      call->rp = self->make_response_promise();
      call->pending = targets.size();
      auto done = [self, call] {
        CXESDB_ASSERT(call->pending > 0);
        if (--call->pending == 0) {
          CXESDB_ASSERT(self->state.multicalls > 0);
          --self->state.multicalls;
          call->rp.deliver(std::move(call->replies));
        }
      };
      auto timeout = ms(std::clamp<uint64_t>(timeout_ms, 1,
                                             st.cfg.multicall_timeout_ms_max));
      for (auto& a : targets)
        self->request(a, timeout, msg)
          .then(
            [call, done]() {
              call->replies.emplace_back();
              done();
            },
            [call, done](caf::error& err) {
              if (err == caf::sec::unexpected_response)
                call->replies.push_back(err.context());
              done();
            });
      return call->rp;
    },

    // -- timers ----------------------------------------------------------------

    // The registry itself, every heartbeat interval once started.
    [self](tick_atom) {
      if (!local_call(self))
        return;
      heartbeat(self);
      self->delayed_send(self, ms(self->state.cfg.heartbeat_interval_ms),
                         tick_atom_v);
    },
    // The registry itself, every reconnect interval once started.
    [self](tick_atom, caf::connect_atom) {
      if (!local_call(self))
        return;
      reach_all(self);
      self->delayed_send(self, ms(self->state.cfg.reconnect_interval_ms),
                         tick_atom_v, caf::connect_atom_v);
    },

    // -- peers ---------------------------------------------------------------

    // A peer registry that reaches this node, before its hello: hands out
    // a challenge and proves this node holds the cluster secret. Tells the
    // peer nothing else.
    [self](hello_atom, std::string& their_nonce)
      -> caf::result<std::string, std::string> {
      auto& st = self->state;
      if (their_nonce.size() != peer_secret::nonce_bytes)
        return caf::make_error(caf::sec::invalid_argument,
                               "hello: a nonce is "
                                 + std::to_string(peer_secret::nonce_bytes)
                                 + " bytes");
      auto proof_for = their_nonce;
      auto my_nonce = add_challenge(self, std::move(their_nonce));
      auto proof = st.cfg.secret.proof(peer_secret::role::answer, proof_for,
                                       my_nonce, "", "");
      return {std::move(my_nonce), std::move(proof)};
    },
    // A peer registry that just reached this node (first contact, reconnect
    // or restart), with the answer to its challenge and its proof of the
    // cluster secret. Refused without a valid proof: the peer never becomes
    // a member and is never sent the name table. Otherwise answers with
    // this node's name and address first, then sends this node's share of
    // the table: the peer counts this node up only once it has the answer
    // and ignores names from it before.
    [self](hello_atom, const std::string& name, const std::string& address,
           const caf::actor& registry, const std::string& my_nonce,
           const std::string& proof) -> caf::result<std::string,
                                                    std::string> {
      auto& st = self->state;
      auto c = st.challenges.find(my_nonce);
      if (c == st.challenges.end())
        return caf::make_error(caf::sec::invalid_argument,
                               "hello: no such challenge (expired?)");
      auto their_nonce = std::move(c->second.their_nonce);
      st.challenges.erase(c);
      if (!st.cfg.secret.verify(proof, peer_secret::role::hello, my_nonce,
                                their_nonce, name, address)) {
        if (st.refused_hellos++ % refused_hellos_log_every == 0)
          log_warning("registry " + st.cfg.node_name + ": hello from "
                      + address + " refused: it does not prove this "
                        "cluster's secret ("
                      + std::to_string(st.refused_hellos) + " so far)");
        return caf::make_error(caf::sec::invalid_argument,
                               "hello refused: the cluster secret does not "
                               "match");
      }
      if (name == st.cfg.node_name || !registry)
        return caf::make_error(caf::sec::invalid_argument,
                               "hello: node name " + name + " is taken");
      if (!member_up(self, name, address, registry))
        return caf::make_error(caf::sec::runtime_error,
                               "hello: members_max reached");
      auto rp = self->make_response_promise<std::string, std::string>();
      rp.deliver(st.cfg.node_name, st.address);
      send_share(self, registry);
      return rp;
    },
    // An up member, every heartbeat interval: it is alive.
    [self](heartbeat_atom, const std::string& from) {
      if (auto m = up_sender(self, from))
        m->last_heard = self->clock().now();
    },
    // An up member, every heartbeat interval: the members it holds up.
    // Unknown ones are reached at once; a down member's address is updated
    // (it may have restarted elsewhere).
    [self](gossip_atom, const std::string& from,
           const std::vector<std::string>& up) {
      auto& st = self->state;
      auto m = up_sender(self, from);
      if (!m || up.size() % 2 != 0)
        return;
      m->last_heard = self->clock().now();
      for (size_t i = 0; i + 1 < up.size(); i += 2) {
        auto& name = up[i];
        auto& address = up[i + 1];
        if (name == st.cfg.node_name || name.empty() || address.empty())
          continue;
        if (name == from) {
          // The sender's own entry is authoritative: it may not have known
          // its address yet when it answered our hello.
          m->address = address;
          continue;
        }
        auto j = st.members.find(name);
        if (j == st.members.end()) {
          if (!room_for_member(self, name))
            continue;
          j = st.members.emplace(name, member{}).first;
          j->second.down_since = self->clock().now();
        } else if (j->second.up || j->second.address == address) {
          continue;
        }
        j->second.address = address;
        if (reaches_now(self, name, j->second))
          reach(self, address);
      }
    },
    // An up member: it registered a name. A conflict with this node's own
    // registration is settled here.
    [self](names_atom, register_atom, const std::string& owner,
           const std::string& name, const caf::actor& a) {
      if (!up_sender(self, owner) || !a)
        return;
      if (put_name(self, name, owner, a))
        resolve_conflict(self, name, owner);
    },
    [self](names_atom, unregister_atom, const std::string& owner,
           const std::string& name) {
      if (up_sender(self, owner))
        erase_name(self->state, name, owner);
    },
    [self](names_atom, caf::join_atom, const std::string& owner,
           const std::string& group, const caf::actor& a) {
      if (up_sender(self, owner) && a)
        put_member(self, group, owner, a);
    },
    [self](names_atom, caf::leave_atom, const std::string& owner,
           const std::string& group, const caf::actor& a) {
      if (up_sender(self, owner))
        erase_member(self->state, group, owner, a);
    },
    // An up member, right after a hello: its whole share, replacing what
    // this node had from it.
    [self](names_atom, const std::string& owner,
           const std::vector<std::string>& names,
           const std::vector<caf::actor>& name_actors,
           const std::vector<std::string>& groups,
           const std::vector<caf::actor>& group_actors) {
      if (!up_sender(self, owner) || names.size() != name_actors.size()
          || groups.size() != group_actors.size())
        return;
      erase_owner(self->state, owner);
      for (size_t i = 0; i < names.size(); ++i)
        if (name_actors[i] && put_name(self, names[i], owner, name_actors[i]))
          resolve_conflict(self, names[i], owner);
      for (size_t i = 0; i < groups.size(); ++i)
        if (group_actors[i])
          put_member(self, groups[i], owner, group_actors[i]);
    },
  };
}

} // namespace

caf::actor spawn_registry(caf::actor_system& sys, registry_config cfg) {
  return sys.spawn(registry, std::move(cfg));
}

} // namespace cxesdb::actors
