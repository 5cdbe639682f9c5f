#include "stores/store_manager.hpp"

#include <algorithm>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "caf/actor_system.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/send.hpp"
#include "caf/stateful_actor.hpp"

#include "actors/assert.hpp"
#include "actors/executor.hpp"
#include "actors/hash_ring.hpp"
#include "actors/log.hpp"
#include "actors/raft/consensus_actor.hpp"
#include "actors/raft/node_log.hpp"
#include "actors/raft/transport.hpp"
#include "actors/type_ids.hpp"
#include "stores/backup.hpp"
#include "stores/bootstrap.hpp"
#include "stores/catalog.hpp"
#include "stores/codec.hpp"
#include "stores/io_call.hpp"
#include "stores/messages.hpp"
#include "stores/store_metrics.hpp"
#include "stores/time_format.hpp"

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<caf::actor>)

namespace cxesdb::stores {

using namespace cxesdb::actors;
namespace fs = std::filesystem;
namespace raft = cxesdb::actors::raft;
using nlohmann::json;

namespace {

// -- catalog events -----------------------------------------------------------
//
// The catalog is the `_system` store: stream `nodes` holds `node_joined`
// events, stream `store-<id>` a store's `store_created` and `store_removed`
// events. Every node follows it (voter or learner) and folds it into its
// view; placement is a pure function of that view.

constexpr const char* nodes_stream = "nodes";
constexpr const char* node_joined = "node_joined";
constexpr const char* node_left = "node_left";
constexpr const char* store_created = "store_created";
constexpr const char* store_removed = "store_removed";

std::string store_stream(const std::string& id) {
  return "store-" + id;
}

/// What routed requests carry in `forward_atom`.
enum class route_kind : uint8_t { write = 0, read = 1, status = 2 };

/// A store as the catalog describes it.
struct catalog_store {
  store_config config;
  /// The voters the group was founded with.
  std::vector<std::string> founders;
  /// restore_store: the backup its founder starts it from.
  std::string restored_from;
  /// The version of the store's catalog stream (for the next change).
  int64_t version = -1;
  bool removed = false;
};

/// One replica of a store on this node.
struct replica {
  store_info info;
  std::shared_ptr<store_files> files;
  caf::actor group;
  caf::actor writer;
  caf::actor reader;
  caf::actor hub;
  /// Takes the hub's writes (checkpoints, subscription definitions) and
  /// routes them to the store's leader, wherever it is.
  caf::actor router;
  /// Retired: its data is deleted once its files are closed.
  bool retiring = false;
  /// The placement epoch at which this replica, leading, found its group's
  /// membership as the placement wants it: reconciliation skips it until
  /// the epoch moves.
  uint64_t settled_epoch = 0;
  /// remove_store requests waiting until the data is gone.
  std::vector<caf::response_promise> waiters;
};

/// A request being routed to its store's leader.
struct route_job {
  std::string store;
  route_kind kind = route_kind::write;
  /// The command (writes) or query (reads) itself: what this node's own
  /// replica takes, without a trip through the codec.
  std::shared_ptr<const command> cmd;
  std::shared_ptr<const query> q;
  /// The encoded command or query, for other nodes; made by the first
  /// attempt that goes to one.
  std::string bytes;
  bool idempotent = false; ///< safe to retry after an unknown outcome
  /// Gets the outcome from another node (encoded).
  std::function<void(caf::expected<std::string>)> done;
  /// Get the outcome from this node's replica.
  std::function<void(command_result&)> done_write;
  std::function<void(query_result&)> done_read;
  caf::actor_clock::time_point deadline;
  std::string next; ///< the node to try next; empty: pick one
  size_t attempts = 0;
  bool unknown = false; ///< an attempt may have been applied
  caf::error last;
};

struct manager_state {
  store_manager_config cfg;
  executor* exec = nullptr;
  uint64_t self_id = 0;
  std::map<std::string, replica> replicas;
  std::unordered_map<caf::actor_addr, std::string> by_group;
  /// The catalog view.
  std::map<std::string, catalog_store> catalog;
  std::vector<std::string> nodes; ///< joined, in join order
  /// The placement ring over `nodes`, rebuilt when they change (routing
  /// asks for a store's placement on every request).
  hash_ring ring;
  /// Moves whenever the placement or the nodes that are up change: settled
  /// groups are reconciled again.
  uint64_t placement_epoch = 1;
  std::map<std::string, std::string> addresses;
  std::map<uint64_t, std::string> names; ///< Raft id -> node name
  /// Other nodes' managers, by node name, while they are up.
  std::map<std::string, caf::actor> peers;
  /// This node's Raft transport (a linked child), and the nodes whose
  /// transport it was told about.
  raft::transport_actor transport;
  std::set<std::string> transport_peers;
  std::set<std::string> up;
  /// The last leader a request found, by store.
  std::map<std::string, std::string> leader_hint;
  std::map<uint64_t, route_job> routes;
  uint64_t next_route = 0;
  bool joined = false;
  /// This node left the cluster (leave_cluster); it never joins again.
  bool left = false;
  bool join_in_flight = false;
  bool ready = false;
  std::vector<caf::response_promise> ready_waiters;
  /// create_store requests by store id, waiting for the store to run.
  std::map<std::string, std::vector<caf::response_promise>> creating;
  /// restore_store requests of this node by store id, until the store's
  /// replica runs here: the backup whose copy waits beside the data
  /// directory (restore_dir_of). Starts the replica here even when the
  /// placement does not (sync_replicas).
  std::map<std::string, std::string> restoring;
  std::string join_event_id;
  /// Whether this node founds the catalog or joins a cluster
  /// (stores/bootstrap.hpp); `wait` until decided. The catalog's group
  /// starts once it is, founding with this node as its only voter or not.
  bootstrap_action boot = bootstrap_action::wait;
  /// The bootstrap probe round in work and the answers it got so far.
  uint64_t probe_round = 0;
  std::vector<seed_answer> probe_answers;
  /// Why the last decision was `wait` (logged when it changes).
  std::string boot_wait_reason;
  /// Cluster addresses of the members up now, as their registries say.
  std::map<std::string, std::string> member_addresses;
  /// Catalog events this node appended (for unique event ids).
  uint64_t catalog_events = 0;

  static inline const char* name = "store_manager";
};

using manager_actor = caf::stateful_actor<manager_state>;

/// A request is answered this long before the store's `timeout_ms`, to
/// leave the gateway a moment to answer before its own timeout.
constexpr int64_t answer_margin_ms = 250;

bool is_cxesdb(const caf::error& err, errc x) {
  return err.category() == caf::atom("cxesdb") && err.code() == static_cast<uint8_t>(x);
}

std::string data_dir_of(const manager_state& st, const std::string& id) {
  return fs::absolute(fs::path{st.cfg.data_dir} / id).lexically_normal().string();
}

/// A store's replication factor: as configured, or, when create_store did
/// not set one (0), min(3, cluster size) as the cluster is now: such stores
/// (the default store among them) grow with the cluster.
size_t replication_factor(const manager_state& st, const store_config& cfg) {
  if (cfg.replication_factor > 0)
    return static_cast<size_t>(cfg.replication_factor);
  return std::min<size_t>(store_config::replication_factor_default_max,
                          std::max<size_t>(st.nodes.size(), 1));
}

/// Where the replicas of `id` belong: the first replication-factor nodes of
/// the ring (all nodes for the catalog).
std::vector<std::string> placement(const manager_state& st,
                                   const std::string& id) {
  if (id == system_store_id)
    return st.nodes;
  auto c = st.catalog.find(id);
  if (c == st.catalog.end() || c->second.removed)
    return {};
  return st.ring.owners(id, replication_factor(st, c->second.config));
}

/// The catalog's voters: the first `system_voters_max` nodes of the ring.
std::vector<std::string> system_voters(const manager_state& st) {
  return st.ring.owners(system_store_id, st.cfg.system_voters_max);
}

std::string name_of(const manager_state& st, uint64_t id) {
  auto i = st.names.find(id);
  return i == st.names.end() ? std::string{} : i->second;
}

void learn_node(manager_state& st, const std::string& name) {
  st.names.emplace(stable_hash64(name), name);
}

/// Shares an open store's files. When the last owner (the manager, the
/// store's actors, their jobs) lets go, the files close on an IO thread and
/// the manager hears `(closed_atom, id)`.
std::shared_ptr<store_files> share(std::unique_ptr<store_files> f,
                                   executor* exec, caf::actor mgr) {
  return std::shared_ptr<store_files>(f.release(), [exec, mgr](store_files* p) {
    exec->submit([p, mgr] {
      auto id = p->id;
      delete p;
      caf::anon_send(mgr, closed_atom_v, std::move(id));
    });
  });
}

void check_ready(manager_actor* self);
void sync_replicas(manager_actor* self);
void route(manager_actor* self, route_job job);
void probe_seeds(manager_actor* self);
void probe_peer(manager_actor* self, const std::string& name);

// -- replicas -----------------------------------------------------------------

/// Whether this node restores store `id` now: it founds the store from the
/// backup's copy, placed or not (membership reconciliation then moves the
/// store to its placement, the other replicas receiving the copy as the
/// leader's snapshot image).
bool restores_here(const manager_state& st, const std::string& id) {
  auto r = st.restoring.find(id);
  auto c = st.catalog.find(id);
  return r != st.restoring.end() && c != st.catalog.end()
         && c->second.restored_from == r->second
         && c->second.founders == std::vector<std::string>{st.cfg.node_name};
}

/// Where restore_store puts the backup's copy until the store's replica
/// starts on this node (beside the store directories, never one of them).
std::string restore_dir_of(const manager_state& st, const std::string& id) {
  return data_dir_of(st, id) + ".restore";
}

/// Opens a replica's files on an IO thread, then starts its group. The
/// catalog's replica also reads every catalog event already applied, so
/// that the view is complete before the group applies new ones.
void open_replica(manager_actor* self, const std::string& id) {
  auto& st = self->state;
  auto& r = st.replicas[id];
  r.info.status = store_status::starting;
  auto c = st.catalog.find(id);
  if (c != st.catalog.end())
    r.info.config = c->second.config;
  r.info.config.id = id;
  r.info.config.data_dir = data_dir_of(st, id);
  auto dir = r.info.config.data_dir;
  auto readers = st.cfg.readers_per_store;
  auto exec = st.exec;
  auto me = caf::actor_cast<caf::actor>(self);
  bool read_catalog = id == system_store_id;
  // A store this node restores: its copy waits beside the data directory
  // (also after a restart that came between the copy and this start).
  bool restored = c != st.catalog.end() && !c->second.restored_from.empty()
                  && c->second.founders
                       == std::vector<std::string>{st.cfg.node_name};
  auto staged = restored ? restore_dir_of(st, id) : std::string{};
  exec->submit([id, dir, readers, exec, me, read_catalog, staged] {
    std::shared_ptr<store_files> files;
    std::vector<recorded_event> events;
    std::string err;
    try {
      // restore_store: the backup's copy becomes the store's directory.
      if (!staged.empty() && fs::exists(staged)) {
        fs::remove_all(dir);
        fs::rename(staged, dir);
      }
      fs::create_directories(dir);
      auto f = store_files::open(id, dir, readers);
      if (read_catalog) {
        auto& q = f->readers[0]->open(f->db_path); // before it is shared
        read_all_query all;
        all.from = 0;
        all.count = limits::read_count_max;
        for (;;) {
          auto res = q.run(all);
          if (res.code != result_code::ok)
            throw std::runtime_error("reading the catalog: " + res.message);
          for (auto& e : res.events)
            events.push_back(std::move(e));
          if (!res.has_next || res.events.empty())
            break;
          all.from = res.next_position;
        }
      }
      files = share(std::move(f), exec, me);
    } catch (const std::exception& e) {
      err = e.what();
    }
    caf::anon_send(me, opened_atom_v, id, std::move(files), std::move(events),
                   std::move(err));
  });
}

/// Stops a replica; with `erase`, its directory goes once its files close.
void stop_replica(manager_actor* self, const std::string& id, bool erase) {
  auto& st = self->state;
  auto i = st.replicas.find(id);
  if (i == st.replicas.end())
    return;
  auto& r = i->second;
  r.info.status = store_status::stopping;
  r.retiring = r.retiring || erase;
  if (r.group) {
    st.by_group.erase(r.group.address());
    self->send_exit(r.group, caf::exit_reason::user_shutdown);
  }
  if (r.router)
    self->send_exit(r.router, caf::exit_reason::user_shutdown);
  r.group = r.writer = r.reader = r.hub = r.router = nullptr;
  self->send(st.transport, raft::raft_member_atom::value, id, caf::actor{});
  if (r.files)
    r.files.reset(); // closes once the group's actors and jobs let go
  else if (r.retiring)
    caf::anon_send(caf::actor_cast<caf::actor>(self), closed_atom_v, id);
}

// -- the catalog view ---------------------------------------------------------

/// Folds one catalog event into the view (decode_catalog_event refuses
/// what it cannot read).
void apply_catalog_event(manager_state& st, const recorded_event& e) {
  using kind = catalog_event::kind;
  auto ev = decode_catalog_event(e.stream_id, e.event_type, e.data);
  if (ev.what == kind::ignored)
    return;
  if (ev.what == kind::node_joined) {
    auto& name = ev.node;
    if (std::find(st.nodes.begin(), st.nodes.end(), name) == st.nodes.end()) {
      st.nodes.push_back(name);
      st.ring = hash_ring{st.nodes};
      ++st.placement_epoch;
    }
    st.addresses[name] = ev.address;
    learn_node(st, name);
    if (name == st.cfg.node_name)
      st.joined = true;
    return;
  }
  if (ev.what == kind::node_left) {
    auto& name = ev.node;
    st.nodes.erase(std::remove(st.nodes.begin(), st.nodes.end(), name),
                   st.nodes.end());
    st.ring = hash_ring{st.nodes};
    ++st.placement_epoch;
    if (name == st.cfg.node_name)
      st.left = true;
    return;
  }
  auto& c = st.catalog[ev.store];
  c.version = e.event_number;
  if (ev.what == kind::store_created) {
    c.removed = !ev.config_ok;
    if (ev.config_ok) {
      c.config = std::move(ev.config);
      c.founders = std::move(ev.founders);
      c.restored_from = std::move(ev.restored_from);
    }
  } else if (ev.what == kind::store_removed) {
    c.removed = true;
  }
}

// -- routing ------------------------------------------------------------------

/// Takes route `id` out of the routes in work; none when it ended already.
std::optional<route_job> take_route(manager_state& st, uint64_t id) {
  auto i = st.routes.find(id);
  if (i == st.routes.end())
    return std::nullopt;
  auto job = std::move(i->second);
  st.routes.erase(i);
  return job;
}

/// Ends a routed request with its outcome.
void finish(manager_actor* self, uint64_t id, caf::expected<std::string> out) {
  if (auto job = take_route(self->state, id))
    job->done(std::move(out));
}

/// The node to try for `job`: a redirect, the last known leader, this node
/// when it has a replica, then the store's placement in turn.
std::string pick(manager_state& st, route_job& job) {
  if (!job.next.empty())
    return std::exchange(job.next, std::string{});
  std::vector<std::string> candidates;
  auto h = st.leader_hint.find(job.store);
  if (h != st.leader_hint.end())
    candidates.push_back(h->second);
  auto local = st.replicas.find(job.store);
  if (local != st.replicas.end() && local->second.writer)
    candidates.push_back(st.cfg.node_name);
  for (auto& n : placement(st, job.store))
    candidates.push_back(n);
  if (job.store == system_store_id || candidates.empty())
    for (auto& n : st.up)
      candidates.push_back(n);
  if (candidates.empty())
    return {};
  return candidates[job.attempts % candidates.size()];
}

/// Whether this node can reach a majority of the store's replicas (itself
/// included); when it cannot, no leader can serve it from here and a request
/// is answered `unavailable` at once instead of at its deadline.
bool majority_up(const manager_state& st, const std::string& store) {
  auto where = placement(st, store);
  if (where.empty())
    return true; // not placed yet (a joining node): try the members
  size_t up = 0;
  for (auto& n : where)
    up += n == st.cfg.node_name || st.up.count(n) > 0 ? 1 : 0;
  return up * 2 > where.size();
}

void retry_later(manager_actor* self, uint64_t id) {
  auto& st = self->state;
  auto i = st.routes.find(id);
  if (i == st.routes.end())
    return;
  auto shift = std::min<size_t>(i->second.attempts, 16);
  auto ms = std::min<uint64_t>(st.cfg.route_backoff_ms,
                               store_manager_config::route_backoff_first_ms
                                 << shift);
  self->delayed_send(self, std::chrono::milliseconds{ms}, route_atom_v, id);
}

/// Asks this node's writer for routed request `id` (`x` is its command or
/// query, `atom` says which); the job's `done` member gets the answer.
template <class Result, class Atom, class Payload, class OnError>
void ask_writer(manager_actor* self, const caf::actor& writer,
                std::chrono::milliseconds timeout, uint64_t id, Atom atom,
                const Payload& x,
                std::function<void(Result&)> route_job::*done,
                OnError on_error) {
  self->request(writer, timeout, atom, x)
    .then(
      [self, id, done](Result& res) {
        if (auto job = take_route(self->state, id))
          ((*job).*done)(res);
      },
      on_error);
}

/// Makes the next attempt of route `id`.
void attempt(manager_actor* self, uint64_t id) {
  auto& st = self->state;
  auto i = st.routes.find(id);
  if (i == st.routes.end())
    return;
  auto& job = i->second;
  if (job.store != system_store_id) {
    auto c = st.catalog.find(job.store);
    if (c != st.catalog.end() && c->second.removed) {
      finish(self, id, make_error(errc::not_found,
                                  "store " + job.store + " does not exist"));
      return;
    }
  }
  auto now = self->clock().now();
  if (now >= job.deadline || job.attempts >= st.cfg.route_attempts_max) {
    if (job.unknown)
      finish(self, id, make_error(errc::timeout, "no answer from the store's "
                                                 "leader in time; the outcome "
                                                 "is unknown"));
    else
      finish(self, id, make_error(errc::unavailable,
                                  "store " + job.store + " has no leader "
                                  "reachable from this node right now"));
    return;
  }
  if (!majority_up(st, job.store)) {
    if (job.unknown)
      finish(self, id, make_error(errc::timeout,
                                  "a majority of store " + job.store
                                    + "'s replicas went down; the outcome "
                                      "is unknown"));
    else
      finish(self, id, make_error(errc::unavailable,
                                  "a majority of store " + job.store
                                    + "'s replicas is down"));
    return;
  }
  auto node = pick(st, job);
  ++job.attempts;
  // One attempt may not take the whole deadline: a leader that stopped
  // (paused, partitioned) must not keep the request from the next one.
  auto remaining = std::min(
    std::chrono::duration_cast<std::chrono::milliseconds>(job.deadline - now),
    std::chrono::milliseconds{st.cfg.route_attempt_timeout_ms});
  auto on_result = [self, id](std::string& out) {
    finish(self, id, std::move(out));
  };
  auto on_error = [self, id, node](const caf::error& err) {
    auto& st = self->state;
    auto i = st.routes.find(id);
    if (i == st.routes.end())
      return;
    auto& job = i->second;
    if (is_cxesdb(err, errc::not_leader)) {
      std::string hint;
      if (err.context().match_elements<std::string, std::string>())
        hint = err.context().get_as<std::string>(1);
      if (!hint.empty() && std::all_of(hint.begin(), hint.end(), ::isdigit))
        hint = name_of(st, std::stoull(hint));
      if (!hint.empty()) {
        st.leader_hint[job.store] = hint;
        job.next = hint;
        // A redirect goes at once; the node that just refused naming
        // itself (a new leader that has not committed in its term yet)
        // gets a moment first.
        if (hint != node)
          attempt(self, id);
        else
          retry_later(self, id);
      } else {
        st.leader_hint.erase(job.store);
        retry_later(self, id);
      }
      return;
    }
    if (err.category() == caf::atom("cxesdb")
        && !is_cxesdb(err, errc::unavailable)) {
      finish(self, id, err); // a domain outcome or a limit: final
      return;
    }
    if (!is_cxesdb(err, errc::unavailable)) {
      // The node or the connection went away mid-request: the command may
      // have been applied. Only idempotent requests may go again.
      if (job.kind == route_kind::write) {
        job.unknown = true;
        if (!job.idempotent) {
          finish(self, id, make_error(errc::timeout,
                                      "the store's leader was lost before it "
                                      "answered; the outcome is unknown"));
          return;
        }
      }
    }
    st.leader_hint.erase(job.store);
    retry_later(self, id);
  };
  if (node.empty()) {
    retry_later(self, id);
    return;
  }
  if (node == st.cfg.node_name) {
    // This node's replica, asked directly with the command or query as it
    // is. Its errors name the leader by Raft id; on_error maps it.
    auto r = st.replicas.find(job.store);
    if (r == st.replicas.end() || !r->second.writer) {
      on_error(make_error(errc::unavailable, "no running replica of "
                                               + job.store + " on "
                                               + st.cfg.node_name));
      return;
    }
    auto& writer = r->second.writer;
    switch (job.kind) {
      case route_kind::write:
        ask_writer(self, writer, remaining, id, write_atom_v, *job.cmd,
                   &route_job::done_write, on_error);
        return;
      case route_kind::read:
        ask_writer(self, writer, remaining, id, read_atom_v, *job.q,
                   &route_job::done_read, on_error);
        return;
      case route_kind::status:
        break; // rare: the same path as a request another node routed here
    }
    self
      ->request(caf::actor_cast<caf::actor>(self), remaining, forward_atom_v,
                job.store, static_cast<uint8_t>(job.kind), job.bytes)
      .then(on_result, on_error);
    return;
  }
  auto p = st.peers.find(node);
  if (p == st.peers.end()) {
    retry_later(self, id);
    return;
  }
  if (job.bytes.empty()) {
    if (job.cmd)
      job.bytes = encode(*job.cmd);
    else if (job.q)
      job.bytes = encode(*job.q);
  }
  self
    ->request(p->second, remaining, forward_atom_v, job.store,
              static_cast<uint8_t>(job.kind), job.bytes)
    .then(on_result, on_error);
}

/// Starts routing a request; `done` gets the encoded outcome or an error.
void route(manager_actor* self, route_job job) {
  auto& st = self->state;
  if (st.routes.size() >= st.cfg.routes_max) {
    job.done(make_error(errc::overloaded, "too many requests in flight on "
                                          "this node"));
    return;
  }
  int64_t timeout_ms = store_config::timeout_ms_default;
  auto c = st.catalog.find(job.store);
  if (c != st.catalog.end())
    timeout_ms = c->second.config.timeout_ms;
  bool status = job.kind == route_kind::status
                || (job.q && std::holds_alternative<store_figures_query>(*job.q));
  if (status)
    timeout_ms = std::min<int64_t>(
      timeout_ms, static_cast<int64_t>(st.cfg.status_timeout_ms
                                       + answer_margin_ms));
  job.deadline = self->clock().now()
                 + std::chrono::milliseconds{std::max<int64_t>(
                   timeout_ms - answer_margin_ms, 1)};
  auto id = ++st.next_route;
  st.routes.emplace(id, std::move(job));
  attempt(self, id);
}

/// Routes a command; `done` gets its result.
void route_write(manager_actor* self, const std::string& store, command cmd,
                 std::function<void(caf::expected<command_result>)> done) {
  route_job job;
  job.store = store;
  job.kind = route_kind::write;
  // Stream deletes, truncation and metadata answer a retry as the first
  // time (state_machine.hpp), like appends.
  job.idempotent = std::holds_alternative<append_cmd>(cmd)
                   || std::holds_alternative<delete_stream_cmd>(cmd)
                   || std::holds_alternative<truncate_stream_cmd>(cmd)
                   || std::holds_alternative<set_stream_metadata_cmd>(cmd);
  job.cmd = std::make_shared<const command>(std::move(cmd));
  job.done_write = [done](command_result& r) { done(std::move(r)); };
  job.done = [done](caf::expected<std::string> out) {
    if (!out)
      return done(out.error());
    auto r = decode_command_result(*out);
    if (!r)
      return done(make_error(errc::internal_error, "a corrupt answer"));
    done(std::move(*r));
  };
  route(self, std::move(job));
}

/// Routes a query; `done` gets its result.
void route_read(manager_actor* self, const std::string& store, query q,
                std::function<void(caf::expected<query_result>)> done) {
  route_job job;
  job.store = store;
  job.kind = route_kind::read;
  job.q = std::make_shared<const query>(std::move(q));
  job.done_read = [done](query_result& r) { done(std::move(r)); };
  job.done = [done](caf::expected<std::string> out) {
    if (!out)
      return done(out.error());
    auto r = decode_query_result(*out);
    if (!r)
      return done(make_error(errc::internal_error, "a corrupt answer"));
    done(std::move(*r));
  };
  route(self, std::move(job));
}

// -- joining and the default store --------------------------------------------

/// An append of one catalog event (JSON data) to `stream`, expecting
/// `expected` (-2: any version).
append_cmd catalog_event(const std::string& stream, int64_t expected,
                         std::string id, const char* type, json data) {
  append_cmd cmd;
  cmd.stream = stream;
  if (expected >= -1) {
    cmd.expected.kind = expected_version::exact;
    cmd.expected.value = expected;
  }
  cmd.created_epoch_us = now_epoch_us();
  event_input e;
  e.event_id = std::move(id);
  e.event_type = type;
  e.data = data.dump();
  e.metadata = "null";
  e.content_type = "application/json";
  cmd.events.push_back(std::move(e));
  return cmd;
}

/// Appends this node's `node_joined` to the catalog, retrying until the
/// catalog shows it.
void join(manager_actor* self) {
  auto& st = self->state;
  if (st.joined || st.left || st.join_in_flight
      || st.boot == bootstrap_action::wait)
    return;
  st.join_in_flight = true;
  auto cmd = catalog_event(nodes_stream, -2, st.join_event_id, node_joined,
                           json{{"name", st.cfg.node_name},
                                {"address", st.cfg.cluster_address}});
  route_write(self, system_store_id, cmd,
              [self](caf::expected<command_result> r) {
                auto& st = self->state;
                st.join_in_flight = false;
                if (!r || r->code != result_code::ok) {
                  if (!st.joined)
                    self->delayed_send(self, std::chrono::milliseconds{500},
                                       reconcile_atom_v);
                  return;
                }
                log_info("node " + st.cfg.node_name + " joined the cluster");
              });
}

/// A suffix that makes a catalog event id unique in the cluster: this
/// node's name, the time and a counter.
std::string unique_suffix(manager_state& st) {
  return st.cfg.node_name + "-" + std::to_string(now_epoch_us()) + "-"
         + std::to_string(++st.catalog_events);
}

/// Appends a store's `store_created` event; `done` gets the outcome.
/// restore_store passes `restored_from` (the backup): this node alone
/// founds the store, from the backup's copy.
void append_store_created(manager_actor* self, store_config cfg,
                          std::function<void(caf::expected<command_result>)> done,
                          const std::string& restored_from = {}) {
  auto& st = self->state;
  auto c = st.catalog.find(cfg.id);
  cfg.created_at = format_iso8601_us(now_epoch_us());
  cfg.data_dir.clear();
  auto founders = restored_from.empty()
                    ? st.ring.owners(cfg.id, replication_factor(st, cfg))
                    : std::vector<std::string>{st.cfg.node_name};
  // The event id is unique per request: a retry of this request is
  // idempotent, a concurrent creation of the same id fails on the expected
  // version.
  auto data = json{{"config", json::parse(to_json_text(cfg))},
                   {"founders", founders}};
  if (!restored_from.empty())
    data["restored_from"] = restored_from;
  auto cmd = catalog_event(store_stream(cfg.id),
                           c == st.catalog.end() ? -1 : c->second.version,
                           store_created + std::string{"-"} + cfg.id + "-"
                             + unique_suffix(st),
                           store_created, std::move(data));
  route_write(self, system_store_id, cmd, std::move(done));
}

/// Whether this node creates the default store when the catalog has none:
/// the node that founded the catalog, and the founding seed of an identical
/// seed list even after a restart (it may have stopped between founding and
/// creating it). Two creations cannot both succeed (the append expects the
/// store's stream not to exist).
bool creates_default_store(const manager_state& st) {
  return st.boot == bootstrap_action::found
         || (!st.cfg.seeds.empty()
             && founding_seed(st.cfg.seeds) == st.cfg.cluster_address);
}

void ensure_default_store(manager_actor* self) {
  auto& st = self->state;
  if (!creates_default_store(st) || !st.joined)
    return;
  auto c = st.catalog.find(st.cfg.default_store);
  if (c != st.catalog.end() && !c->second.removed)
    return;
  store_config cfg;
  cfg.id = st.cfg.default_store;
  cfg.has_description = true;
  cfg.description = "the default store";
  append_store_created(self, cfg, [](caf::expected<command_result>) {});
}

void check_ready(manager_actor* self) {
  auto& st = self->state;
  if (st.ready || !st.joined)
    return;
  auto sys = st.replicas.find(system_store_id);
  if (sys == st.replicas.end() || sys->second.info.status != store_status::running)
    return;
  if (st.boot == bootstrap_action::found) {
    // The founding node serves once the default store exists, and runs
    // here when the placement puts it here (other nodes may have joined
    // before the founder's own node_joined and moved the placement).
    auto c = st.catalog.find(st.cfg.default_store);
    if (c == st.catalog.end() || c->second.removed)
      return;
    auto where = placement(st, st.cfg.default_store);
    auto d = st.replicas.find(st.cfg.default_store);
    if (std::find(where.begin(), where.end(), st.cfg.node_name) != where.end()
        && (d == st.replicas.end()
            || d->second.info.status != store_status::running))
      return;
  }
  // Every replica this node holds at start-up runs before it listens.
  for (auto& kv : st.replicas)
    if (kv.second.info.status == store_status::starting)
      return;
  st.ready = true;
  log_info("store manager ready: " + std::to_string(st.replicas.size())
           + " replica(s) in " + st.cfg.data_dir);
  for (auto& rp : st.ready_waiters)
    rp.deliver(true);
  st.ready_waiters.clear();
}

/// Starts the replicas the placement gives this node and stops those of
/// removed stores.
/// The stores of the catalog that are not removed: a removed store's
/// entry stays as a tombstone and does not count against `stores_max`.
size_t live_stores(const manager_state& st) {
  return static_cast<size_t>(
    std::count_if(st.catalog.begin(), st.catalog.end(),
                  [](const auto& kv) { return !kv.second.removed; }));
}

/// The replicas this node runs for clients' stores: neither the catalog's
/// own (`_system`) nor one that is stopping (a removed store on its way
/// out) counts against `stores_max`.
size_t local_user_replicas(const manager_state& st) {
  return static_cast<size_t>(std::count_if(
    st.replicas.begin(), st.replicas.end(), [](const auto& kv) {
      return kv.first != system_store_id
             && kv.second.info.status != store_status::stopping;
    }));
}

void sync_replicas(manager_actor* self) {
  auto& st = self->state;
  for (auto& kv : st.catalog) {
    auto& id = kv.first;
    auto r = st.replicas.find(id);
    if (kv.second.removed) {
      if (r != st.replicas.end() && r->second.info.status != store_status::stopping)
        stop_replica(self, id, true);
      continue;
    }
    if (r != st.replicas.end())
      continue;
    auto where = placement(st, id);
    if (std::find(where.begin(), where.end(), st.cfg.node_name) == where.end()
        && !restores_here(st, id))
      continue;
    if (local_user_replicas(st) >= st.cfg.stores_max) {
      log_error("cannot start a replica of " + id + ": this node holds its "
                "maximum number of stores");
      continue;
    }
    open_replica(self, id);
  }
}

// -- membership reconciliation ------------------------------------------------

/// On the leader of a local group: one membership change towards the
/// placement (add a learner, promote it once caught up, remove a member
/// that left the placement), one at a time, so that every step keeps a
/// majority of the previous configuration.
void reconcile_group(manager_actor* self, const std::string& id,
                     const raft::group_status& gs) {
  auto& st = self->state;
  if (gs.role != raft::role::leader || gs.conf_pending || st.nodes.empty())
    return;
  std::set<uint64_t> want;   // every member
  std::set<uint64_t> voters; // those that vote
  if (id == system_store_id) {
    for (auto& n : st.nodes)
      want.insert(stable_hash64(n));
    for (auto& n : system_voters(st))
      voters.insert(stable_hash64(n));
  } else {
    for (auto& n : placement(st, id)) {
      want.insert(stable_hash64(n));
      voters.insert(stable_hash64(n));
    }
  }
  if (want.empty())
    return;
  auto& conf = gs.conf;
  auto writer = st.replicas[id].writer;
  if (!writer)
    return;
  auto change = [self, writer, id](raft::conf_op op, uint64_t node) {
    log_info("store " + id + ": membership change "
             + std::to_string(static_cast<int>(op)) + " of "
             + name_of(self->state, node));
    self
      ->request(writer, std::chrono::seconds{5}, raft::conf_atom::value,
                static_cast<uint8_t>(op), node)
      .then([](uint64_t, uint64_t, uint64_t, uint64_t) {},
            [](const caf::error&) {});
  };
  // 1. Every wanted member gets the log, as a learner first.
  for (auto n : want)
    if (!conf.is_member(n)) {
      change(raft::conf_op::add_learner, n);
      return;
    }
  // 2. A caught-up learner that should vote is promoted.
  for (auto n : conf.learners)
    if (voters.count(n) > 0) {
      auto m = gs.match.find(n);
      if (m != gs.match.end() && m->second + 16 >= gs.commit) {
        change(raft::conf_op::add_voter, n);
        return;
      }
    }
  // 3. A voter that should not vote any more is removed (or demoted, for
  //    the catalog); the leader hands over first when it is that voter.
  for (auto n : conf.voters)
    if (voters.count(n) == 0) {
      if (n == gs.id) {
        for (auto v : conf.voters)
          if (voters.count(v) > 0) {
            self
              ->request(writer, std::chrono::seconds{5},
                        raft::transfer_atom::value, v)
              .then([](bool) {}, [](const caf::error&) {});
            return;
          }
        return;
      }
      if (id == system_store_id && want.count(n) > 0)
        change(raft::conf_op::add_learner, n);
      else
        change(raft::conf_op::remove, n);
      return;
    }
  // 4. Learners that left the placement go.
  for (auto n : conf.learners)
    if (want.count(n) == 0) {
      change(raft::conf_op::remove, n);
      return;
    }
  // 5. Nodes out of the group (left nodes too) retire their replica.
  for (auto& kv : st.addresses) {
    auto& n = kv.first;
    auto nid = stable_hash64(n);
    if (want.count(nid) == 0 && !conf.is_member(nid) && n != st.cfg.node_name) {
      auto p = st.peers.find(n);
      if (p != st.peers.end())
        self->send(p->second, retire_atom_v, id);
    }
  }
  // Nothing left to change: quiet until the placement or the nodes move.
  if (auto r = st.replicas.find(id); r != st.replicas.end())
    r->second.settled_epoch = st.placement_epoch;
}

/// Periodic work: join, default store, peers' addresses, reconciliation.
void reconcile(manager_actor* self) {
  auto& st = self->state;
  if (!st.joined)
    join(self);
  ensure_default_store(self);
  if (st.cfg.registry)
    for (auto& n : st.up) {
      if (n == st.cfg.node_name)
        continue;
      if (st.transport_peers.count(n) == 0)
        self->request(st.cfg.registry, std::chrono::seconds{5}, whereis_atom_v,
                      "raft@" + n)
          .then(
            [self, n](caf::actor& a) {
              auto& st = self->state;
              if (a && st.up.count(n) > 0
                  && st.transport_peers.insert(n).second)
                self->send(st.transport, raft::raft_peer_atom::value,
                           stable_hash64(n), a);
            },
            [](const caf::error&) {});
      if (st.peers.count(n) == 0)
        self->request(st.cfg.registry, std::chrono::seconds{5}, whereis_atom_v,
                      "stores@" + n)
          .then(
            [self, n](caf::actor& a) {
              auto& st = self->state;
              if (a && st.up.count(n) > 0) {
                st.peers[n] = a;
                ++st.placement_epoch; // retire messages can reach it now
                probe_peer(self, n);
              }
            },
            [](const caf::error&) {});
    }
  for (auto& kv : st.replicas) {
    if (!kv.second.writer || kv.second.settled_epoch == st.placement_epoch)
      continue;
    auto id = kv.first;
    self->request(kv.second.writer, std::chrono::seconds{5},
                  raft::group_status_atom::value)
      .then([self, id](raft::group_status& gs) {
        auto& st = self->state;
        if (gs.leader != raft::no_node) {
          auto n = name_of(st, gs.leader);
          if (!n.empty())
            st.leader_hint[id] = n;
        }
        reconcile_group(self, id, gs);
      },
      [](const caf::error&) {});
  }
}

/// Starts the Raft group of a replica whose files are open. The catalog's
/// group founds the catalog (this node its only voter) when this node
/// decided to found it; a store's group is founded by the nodes its
/// `store_created` names.
void start_group(manager_actor* self, const std::string& id) {
  auto& st = self->state;
  auto& r = st.replicas[id];
  replica_config rc;
  rc.node = st.self_id;
  rc.group = id;
  rc.transport = caf::actor_cast<caf::actor>(st.transport);
  rc.tick_interval_ms = st.cfg.tick_interval_ms;
  rc.seed = stable_hash64(id) ^ st.self_id;
  rc.log = st.cfg.log;
  rc.leaders = st.cfg.leaders;
  if (st.cfg.metrics && id != system_store_id)
    rc.counters = st.cfg.metrics->of(id, r.files->db_path);
  int64_t timeout_ms = store_config::timeout_ms_default;
  if (auto c = st.catalog.find(id); c != st.catalog.end())
    timeout_ms = c->second.config.timeout_ms;
  rc.answer_within_ms = static_cast<uint64_t>(
    std::max<int64_t>(timeout_ms - answer_margin_ms, 1));
  if (id == system_store_id) {
    if (st.boot == bootstrap_action::found)
      rc.initial_voters = {st.self_id};
    rc.observer = caf::actor_cast<caf::actor>(self);
  } else {
    auto c = st.catalog.find(id);
    if (c != st.catalog.end()) {
      auto& f = c->second.founders;
      if (std::find(f.begin(), f.end(), st.cfg.node_name) != f.end())
        for (auto& n : f)
          rc.initial_voters.push_back(stable_hash64(n));
      rc.campaign_at_start = !f.empty() && f.front() == st.cfg.node_name;
    }
  }
  r.group = spawn_store_group(self->system(), r.files, *st.exec,
                              st.cfg.group_limits, st.cfg.sub_limits, rc,
                              caf::actor_cast<caf::actor>(self));
  st.by_group.emplace(r.group.address(), id);
  if (id == system_store_id)
    sync_replicas(self);
}

// -- bootstrap: founding the catalog or joining ---------------------------------

/// Decides (stores/bootstrap.hpp), from the seeds' answers so far, whether
/// this node founds the catalog or joins a cluster; once decided, starts
/// the catalog's group and joins. Does nothing before the catalog's files
/// are open (its data is part of the input) or after the decision.
void decide_bootstrap_step(manager_actor* self) {
  auto& st = self->state;
  if (st.boot != bootstrap_action::wait)
    return;
  auto r = st.replicas.find(system_store_id);
  if (r == st.replicas.end() || !r->second.files || r->second.group)
    return;
  bootstrap_input in;
  in.seeds = st.cfg.seeds;
  in.self_address = st.cfg.cluster_address;
  in.has_catalog = !st.nodes.empty();
  in.answers = st.probe_answers;
  auto d = decide_bootstrap(in);
  if (d.action == bootstrap_action::wait) {
    if (d.reason != st.boot_wait_reason)
      log_info("bootstrap: waiting: " + d.reason,
               {{"node", st.cfg.node_name}});
    st.boot_wait_reason = d.reason;
    return;
  }
  st.boot = d.action;
  log_info(std::string{"bootstrap: "} + to_string(d.action) + ": " + d.reason,
           {{"node", st.cfg.node_name}, {"action", to_string(d.action)}});
  start_group(self, system_store_id);
}

/// Asks the manager of member `name` whether it is in a cluster, for the
/// probe round in work.
void probe_peer(manager_actor* self, const std::string& name) {
  auto& st = self->state;
  auto p = st.peers.find(name);
  if (st.boot != bootstrap_action::wait || p == st.peers.end())
    return;
  auto a = st.member_addresses.find(name);
  auto address = a == st.member_addresses.end() ? std::string{} : a->second;
  auto round = st.probe_round;
  self
    ->request(p->second,
              std::chrono::milliseconds{st.cfg.reconcile_interval_ms},
              members_atom_v)
    .then(
      [self, round, address](std::vector<std::string>& nodes) {
        auto& st = self->state;
        if (round != st.probe_round || st.boot != bootstrap_action::wait)
          return;
        st.probe_answers.push_back({address, std::move(nodes)});
        decide_bootstrap_step(self);
      },
      [](const caf::error&) {}); // no answer: it does not count this round
}

/// Starts a probe round while this node has not decided: answers of
/// earlier rounds no longer count, so that the quorum is of seeds that
/// answer now. Runs every reconcile interval (the tick) until decided; a
/// peer whose manager becomes known in between is asked in the round in
/// work (`probe_peer`).
void probe_seeds(manager_actor* self) {
  auto& st = self->state;
  if (st.boot != bootstrap_action::wait)
    return;
  ++st.probe_round;
  st.probe_answers.clear();
  decide_bootstrap_step(self);
  std::vector<std::string> names;
  for (auto& kv : st.peers)
    names.push_back(kv.first);
  for (auto& n : names)
    probe_peer(self, n);
}

// -- status -------------------------------------------------------------------

json group_json(const manager_state& st, const raft::group_status& gs) {
  json members = json::array();
  for (auto n : gs.conf.voters)
    members.push_back(name_of(st, n));
  json leader = gs.leader == raft::no_node ? json(nullptr)
                                           : json(name_of(st, gs.leader));
  return json{{"leader", leader},
              {"members", members},
              {"term", gs.term},
              {"commit_index", gs.commit}};
}

/// Runs a request that another node routed here, on this node's replica.
caf::result<std::string> serve_forward(manager_actor* self, const std::string& store,
                                       uint8_t kind, std::string& bytes) {
  auto& st = self->state;
  auto r = st.replicas.find(store);
  if (r == st.replicas.end() || !r->second.writer)
    return make_error(errc::unavailable, "no running replica of " + store
                                           + " on " + st.cfg.node_name);
  auto rp = self->make_response_promise<std::string>();
  auto on_error = [self, rp](const caf::error& err) mutable {
    if (is_cxesdb(err, errc::not_leader)
        && err.context().match_elements<std::string, std::string>()) {
      auto id = err.context().get_as<std::string>(1);
      auto name = id.empty() || !std::all_of(id.begin(), id.end(), ::isdigit)
                    ? std::string{}
                    : name_of(self->state, std::stoull(id));
      rp.deliver(make_error(errc::not_leader, "not the leader", name));
      return;
    }
    rp.deliver(err);
  };
  auto writer = r->second.writer;
  switch (static_cast<route_kind>(kind)) {
    case route_kind::write: {
      auto cmd = decode(bytes);
      if (!cmd)
        return make_error(errc::invalid_request, "a corrupt command");
      self->request(writer, caf::infinite, write_atom_v, std::move(*cmd))
        .then([rp](command_result& res) mutable { rp.deliver(encode(res)); },
              on_error);
      return rp;
    }
    case route_kind::read: {
      auto q = decode_query(bytes);
      if (!q)
        return make_error(errc::invalid_request, "a corrupt query");
      self->request(writer, caf::infinite, read_atom_v, std::move(*q))
        .then([rp](query_result& res) mutable { rp.deliver(encode(res)); },
              on_error);
      return rp;
    }
    case route_kind::status:
      self->request(writer, caf::infinite, raft::group_status_atom::value)
        .then(
          [self, rp](raft::group_status& gs) mutable {
            if (gs.role != raft::role::leader) {
              auto leader = name_of(self->state, gs.leader);
              rp.deliver(make_error(errc::not_leader, "not the leader", leader));
              return;
            }
            rp.deliver(group_json(self->state, gs).dump());
          },
          on_error);
      return rp;
  }
  return make_error(errc::invalid_request, "an unknown request kind");
}

/// Answers cluster_status: the nodes and, from each store's leader, its
/// group's state.
void cluster_status(manager_actor* self, caf::response_promise rp) {
  auto& st = self->state;
  json nodes = json::array();
  std::set<std::string> names{st.nodes.begin(), st.nodes.end()};
  for (auto& n : st.up)
    names.insert(n);
  names.insert(st.cfg.node_name);
  for (auto& n : names) {
    bool self_node = n == st.cfg.node_name;
    auto a = st.addresses.find(n);
    nodes.push_back(json{{"name", n},
                         {"address", a == st.addresses.end() ? "" : a->second},
                         {"status", self_node || st.up.count(n) > 0 ? "up" : "down"},
                         {"self", self_node}});
  }
  auto out = std::make_shared<json>(json{{"node", st.cfg.node_name},
                                         {"nodes", std::move(nodes)},
                                         {"stores", json::object()}});
  std::vector<std::string> ids;
  for (auto& kv : st.catalog)
    if (!kv.second.removed)
      ids.push_back(kv.first);
  auto left = std::make_shared<size_t>(ids.size());
  if (ids.empty()) {
    rp.deliver(out->dump());
    return;
  }
  for (auto& id : ids) {
    route_job job;
    job.store = id;
    job.kind = route_kind::status;
    job.done = [self, out, left, rp, id](caf::expected<std::string> res) mutable {
      json g;
      if (res)
        g = json::parse(*res, nullptr, false);
      if (!res || g.is_discarded()) {
        json members = json::array();
        for (auto& n : placement(self->state, id))
          members.push_back(n);
        g = json{{"leader", nullptr}, {"members", members}, {"term", 0},
                 {"commit_index", 0}};
      }
      (*out)["stores"][id] = std::move(g);
      if (--*left == 0)
        rp.deliver(out->dump());
    };
    route(self, std::move(job));
  }
}

/// Spawns the actor that passes a hub's `(write_atom, command)` to the
/// manager as `(write_atom, id, command)`: persistent subscriptions on a
/// follower's replica write their checkpoints through the leader.
caf::actor spawn_router(manager_actor* self, const std::string& id) {
  auto mgr = caf::actor_cast<caf::actor>(self);
  return self->system().spawn(
    [mgr, id](caf::event_based_actor* router) -> caf::behavior {
      return {
        [router, mgr, id](write_atom, command& cmd) {
          return router->delegate(mgr, write_atom_v, id, std::move(cmd));
        },
      };
    });
}

/// Finds the running store `id`'s hub on this node, or says why there is
/// none.
caf::error route_to_hub(manager_actor* self, const std::string& id,
                        caf::actor& hub) {
  auto& st = self->state;
  auto c = st.catalog.find(id);
  if (c == st.catalog.end() || c->second.removed)
    return make_error(errc::not_found, "store " + id + " does not exist");
  auto i = st.replicas.find(id);
  if (i == st.replicas.end() || !i->second.hub
      || i->second.info.status != store_status::running)
    return make_error(errc::unavailable,
                      "store " + id + " has no running replica on this node");
  hub = i->second.hub;
  return caf::none;
}

store_info info_of(const manager_state& st, const std::string& id) {
  auto& c = st.catalog.at(id);
  store_info info;
  info.config = c.config;
  info.config.data_dir = data_dir_of(st, id);
  info.config.replication_factor
    = static_cast<int64_t>(replication_factor(st, c.config));
  auto r = st.replicas.find(id);
  info.status = r != st.replicas.end() ? r->second.info.status
                                       : store_status::running;
  return info;
}

/// Answers get_store_status: the store's status on this node and, from its
/// leader wherever it is, its figures (a linearizable read) and its group's
/// leader and members. Each is waited for at most status_timeout_ms; what
/// does not come in time is null (members: the placement's nodes).
void store_status(manager_actor* self, const std::string& id,
                  caf::response_promise rp) {
  auto& st = self->state;
  struct gather {
    caf::response_promise rp;
    json out;
    int left = 2;
    void one_done() {
      if (--left == 0)
        rp.deliver(out.dump());
    }
  };
  auto g = std::make_shared<gather>();
  g->rp = std::move(rp);
  json members = json::array();
  for (auto& n : placement(st, id))
    members.push_back(n);
  g->out = json{{"status", to_string(info_of(st, id).status)},
                {"events", nullptr},
                {"streams", nullptr},
                {"bytes", nullptr},
                {"last_position", nullptr},
                {"leader", nullptr},
                {"members", std::move(members)},
                {"applied_index", nullptr}};
  route_read(self, id, store_figures_query{},
             [g](caf::expected<query_result> r) {
               if (r && r->code == result_code::ok) {
                 auto& f = r->figures;
                 g->out["events"] = f.events;
                 g->out["streams"] = f.streams;
                 g->out["bytes"] = f.bytes;
                 g->out["applied_index"] = f.applied_index;
                 if (r->head_position >= 0)
                   g->out["last_position"] = r->head_position;
               }
               g->one_done();
             });
  route_job job;
  job.store = id;
  job.kind = route_kind::status;
  job.done = [g](caf::expected<std::string> res) {
    if (res) {
      auto group = json::parse(*res, nullptr, false);
      if (group.is_object()) {
        g->out["leader"] = group.value("leader", json(nullptr));
        if (group.contains("members"))
          g->out["members"] = group["members"];
      }
    }
    g->one_done();
  };
  route(self, std::move(job));
}

/// Waits until a new store accepts writes (a linearizable read succeeds on
/// its leader), then answers the create_store requests waiting for it.
void await_running(manager_actor* self, const std::string& id) {
  route_read(self, id, stream_version_query{"$probe"},
             [self, id](caf::expected<query_result> r) {
               auto& st = self->state;
               auto w = st.creating.find(id);
               if (w == st.creating.end())
                 return;
               auto waiters = std::move(w->second);
               st.creating.erase(w);
               for (auto& rp : waiters) {
                 if (r && st.catalog.count(id) > 0)
                   rp.deliver(info_of(st, id));
                 else
                   rp.deliver(make_error(
                     errc::timeout,
                     "store " + id + " was created but has no leader yet ("
                       + (r ? std::string{"removed"}
                            : self->system().render(r.error()))
                       + ")"));
               }
             });
}

caf::behavior store_manager(manager_actor* self, store_manager_config cfg,
                            executor* exec) {
  auto& st = self->state;
  st.cfg = std::move(cfg);
  st.exec = exec;
  st.self_id = stable_hash64(st.cfg.node_name);
  learn_node(st, st.cfg.node_name);
  st.join_event_id = "join-" + st.cfg.node_name + "-"
                     + std::to_string(now_epoch_us());
  // Peers are other processes: an error or a message this node does not
  // understand (an older or newer peer, a reply after its request timed
  // out) is logged and dropped, never fatal.
  self->set_error_handler([self](caf::error& err) {
    log_warning("store manager: an error nobody waited for: "
                + self->system().render(err));
  });
  self->set_default_handler(caf::drop);
  // Stopping (node shutdown): stop every store group first.
  self->set_exit_handler([self](const caf::exit_msg& msg) {
    for (auto& kv : self->state.replicas) {
      if (kv.second.group)
        self->send_exit(kv.second.group, msg.reason);
      if (kv.second.router)
        self->send_exit(kv.second.router, msg.reason);
    }
    self->quit(msg.reason);
  });
  // Raft messages between nodes travel through the transport, batched per
  // peer node; it stops with the manager.
  st.transport = raft::spawn_transport(self->system(), raft::transport_config{});
  self->link_to(st.transport);
  if (st.cfg.registry) {
    self->request(st.cfg.registry, caf::infinite, register_atom_v,
                  "raft@" + st.cfg.node_name,
                  caf::actor_cast<caf::actor>(st.transport))
      .then([](bool) {}, [](const caf::error&) {});
    self->send(st.cfg.registry, caf::subscribe_atom_v,
               caf::actor_cast<caf::actor>(self));
    self
      ->request(st.cfg.registry, caf::infinite, register_atom_v,
                "stores@" + st.cfg.node_name, caf::actor_cast<caf::actor>(self))
      .then(
        [self](bool ok) {
          if (!ok)
            log_error("another node holds the name stores@"
                      + self->state.cfg.node_name + ": node names must be "
                      "unique");
        },
        [](const caf::error&) {});
  }
  fs::create_directories(st.cfg.data_dir);
  open_replica(self, system_store_id);
  self->delayed_send(self, std::chrono::milliseconds{st.cfg.reconcile_interval_ms},
                     tick_atom_v);
  return {
    // The node's main thread waits for start-up before it listens.
    [self](ready_atom) -> caf::result<bool> {
      auto& st = self->state;
      if (st.ready)
        return true;
      st.ready_waiters.push_back(self->make_response_promise());
      return caf::delegated<bool>{};
    },
    // An IO job opened (or failed to open) a replica's files: start its
    // group. The catalog's replica brings the events already applied.
    [self](opened_atom, std::string& id, std::shared_ptr<store_files>& files,
           std::vector<recorded_event>& events, std::string& err) {
      auto& st = self->state;
      auto i = st.replicas.find(id);
      if (i == st.replicas.end())
        return;
      auto& r = i->second;
      if (!err.empty()) {
        log_error("cannot open store " + id + ": " + err);
        r.info.status = store_status::unavailable;
        if (id == system_store_id)
          self->quit(make_error(errc::internal_error, err));
        else
          check_ready(self);
        return;
      }
      if (r.info.status == store_status::stopping) {
        r.files = std::move(files);
        stop_replica(self, id, r.retiring);
        return;
      }
      r.files = std::move(files);
      if (id == system_store_id) {
        // The view is complete before the group applies new events; the
        // group starts once this node knows whether it founds the catalog.
        for (auto& e : events)
          apply_catalog_event(st, e);
        probe_seeds(self);
        return;
      }
      start_group(self, id);
    },
    // A store's supervisor (re)started its children: route to them.
    [self](children_atom, std::vector<caf::actor>& kids) {
      auto& st = self->state;
      auto g = st.by_group.find(
        caf::actor_cast<caf::actor_addr>(self->current_sender()));
      if (g == st.by_group.end())
        return; // a group being stopped
      auto id = g->second;
      auto& r = st.replicas[id];
      CXESDB_ASSERT(kids.size() == 3);
      r.writer = kids[0];
      self->send(st.transport, raft::raft_member_atom::value, id, r.writer);
      r.reader = kids[1];
      r.hub = kids[2];
      if (!r.router)
        r.router = spawn_router(self, id);
      self->send(r.writer, wire_atom_v, r.hub, r.reader);
      self->send(r.hub, wire_atom_v, r.router, r.reader);
      if (r.info.status != store_status::starting) {
        log_warning("store " + id + " restarted its actors");
        return;
      }
      r.info.status = store_status::running;
      st.restoring.erase(id);
      log_info("replica started: " + id + " in " + r.info.config.data_dir);
      if (id == system_store_id)
        reconcile(self);
      check_ready(self);
    },
    // A store's supervisor stopped restarting its children.
    [self](gave_up_atom) {
      auto& st = self->state;
      auto g = st.by_group.find(
        caf::actor_cast<caf::actor_addr>(self->current_sender()));
      if (g == st.by_group.end())
        return;
      log_error("store " + g->second
                + " is unavailable: its actors kept failing");
      auto& r = st.replicas[g->second];
      r.info.status = store_status::unavailable;
      r.writer = r.reader = r.hub = r.group = nullptr;
      self->send(st.transport, raft::raft_member_atom::value, g->second,
                 caf::actor{});
      st.by_group.erase(g);
    },
    // The catalog's writer applied catalog events: fold them into the view
    // and start or stop replicas to match.
    [self](catalog_atom, event_batch& events) {
      auto& st = self->state;
      bool was_joined = st.joined;
      for (auto& e : *events)
        apply_catalog_event(st, e);
      sync_replicas(self);
      if (!was_joined && st.joined)
        ensure_default_store(self);
      for (auto& kv : st.creating)
        if (st.catalog.count(kv.first) > 0)
          await_running(self, kv.first);
      check_ready(self);
    },
    // Periodic: a new bootstrap probe round while undecided, join, peers,
    // membership reconciliation.
    [self](tick_atom) {
      probe_seeds(self);
      reconcile(self);
      self->delayed_send(self,
                         std::chrono::milliseconds{
                           self->state.cfg.reconcile_interval_ms},
                         tick_atom_v);
    },
    [self](reconcile_atom) { reconcile(self); },
    // The registry tells us of members.
    [self](member_up_atom, std::string& name, std::string& address) {
      auto& st = self->state;
      learn_node(st, name);
      if (name == st.cfg.node_name)
        return;
      st.member_addresses[name] = address;
      st.up.insert(name);
      ++st.placement_epoch;
      reconcile(self);
    },
    [self](member_down_atom, std::string& name) {
      self->state.up.erase(name);
      self->state.member_addresses.erase(name);
      self->state.peers.erase(name);
      if (self->state.transport_peers.erase(name) > 0)
        self->send(self->state.transport, raft::raft_peer_atom::value,
                   stable_hash64(name), caf::actor{});
      ++self->state.placement_epoch;
    },
    // Another node's manager, deciding whether to found the catalog, asks
    // whether this node is in a cluster (stores/bootstrap.hpp): the nodes
    // of this node's catalog view, empty while it is in none. Answers from
    // the view only; never waits.
    [self](members_atom) -> std::vector<std::string> {
      return self->state.nodes;
    },
    // Another node's manager (or this one, see `attempt`) routes a request
    // to our replica.
    [self](forward_atom, std::string& store, uint8_t kind,
           std::string& bytes) -> caf::result<std::string> {
      return serve_forward(self, store, kind, bytes);
    },
    // The leader of a store's group removed this node from it (it sends
    // this only while the node is out of the group's configuration, and
    // messages from one node arrive in order, so a retire never overtakes
    // a later re-add). This node's own view may lag (it may not have
    // applied its own node_left yet): the leader's word counts.
    [self](retire_atom, std::string& store) {
      auto& st = self->state;
      if (st.replicas.count(store) > 0
          && st.replicas[store].info.status == store_status::running) {
        log_info("store " + store + ": this node left its group; removing "
                 "the replica");
        stop_replica(self, store, true);
      }
    },
    // The files of a replica are closed (see `share`).
    [self](closed_atom, std::string& id) {
      auto& st = self->state;
      auto i = st.replicas.find(id);
      if (i == st.replicas.end() || i->second.info.status != store_status::stopping)
        return;
      if (!i->second.retiring) {
        st.replicas.erase(i);
        return;
      }
      auto dir = i->second.info.config.data_dir;
      auto me = caf::actor_cast<caf::actor>(self);
      auto remove_dir = [id, dir, me] {
        std::string err;
        try {
          fs::remove_all(dir);
        } catch (const std::exception& e) {
          err = e.what();
        }
        caf::anon_send(me, removed_atom_v, id, std::move(err));
      };
      if (!st.cfg.log) {
        st.exec->submit(remove_dir);
        return;
      }
      // The group's Raft state goes first: a crash in between leaves a
      // directory without a log (a replica that starts empty), never a log
      // that a later store of the same id would take for its own.
      auto exec = st.exec;
      st.cfg.log->forget(id, [exec, remove_dir, me, id](
                               const std::optional<std::string>& err) {
        if (err) {
          caf::anon_send(me, removed_atom_v, id,
                         "forgetting its Raft log: " + *err);
          return;
        }
        exec->submit(remove_dir);
      });
    },
    [self](removed_atom, std::string& id, std::string& err) {
      auto& st = self->state;
      auto i = st.replicas.find(id);
      if (i == st.replicas.end())
        return;
      if (!err.empty())
        log_error("removing the replica of " + id + ": " + err);
      else
        log_info("replica removed: " + id);
      if (st.cfg.metrics)
        st.cfg.metrics->forget(id);
      for (auto& rp : i->second.waiters)
        rp.deliver(true);
      st.replicas.erase(i);
      // Placed here again while it was going: start afresh.
      sync_replicas(self);
    },
    // create_store from a gateway worker; the config is already validated.
    // Appends `store_created` to the catalog, then waits until the store's
    // group accepts writes.
    [self](create_atom, store_config& cfg) -> caf::result<store_info> {
      auto& st = self->state;
      if (!valid_store_id(cfg.id))
        return make_error(errc::invalid_params, "invalid store id");
      auto c = st.catalog.find(cfg.id);
      if (c != st.catalog.end() && !c->second.removed)
        return make_error(errc::already_exists,
                          "store " + cfg.id + " already exists");
      if (live_stores(st) >= st.cfg.stores_max)
        return make_error(errc::overloaded,
                          "the cluster holds its maximum number of stores ("
                            + std::to_string(st.cfg.stores_max) + ")");
      auto rp = self->make_response_promise<store_info>();
      auto id = cfg.id;
      append_store_created(self, cfg, [self, rp, id](
                                        caf::expected<command_result> r) mutable {
        if (!r) {
          rp.deliver(r.error());
          return;
        }
        if (r->code == result_code::wrong_expected_version) {
          rp.deliver(make_error(errc::already_exists,
                                "store " + id + " already exists"));
          return;
        }
        if (r->code != result_code::ok) {
          rp.deliver(make_error(errc::internal_error, r->message));
          return;
        }
        auto& st = self->state;
        st.creating[id].push_back(rp);
        if (st.catalog.count(id) > 0 && !st.catalog[id].removed)
          await_running(self, id);
      });
      return rp;
    },
    // backup_store from a gateway worker: a consistent copy of this node's
    // replica of store `id`, taken on an IO thread while the store serves
    // (stores/backup.hpp). A node without a running replica of the store
    // answers `unavailable`; the copy holds what that replica applied.
    [self](backup_atom, std::string& id,
           std::string& name) -> caf::result<std::string> {
      auto& st = self->state;
      auto c = st.catalog.find(id);
      if (c == st.catalog.end() || c->second.removed || id == system_store_id)
        return make_error(errc::not_found, "store " + id + " does not exist");
      auto r = st.replicas.find(id);
      if (r == st.replicas.end() || !r->second.files
          || r->second.info.status != store_status::running)
        return make_error(errc::unavailable,
                          "this node holds no running replica of store " + id
                            + "; send backup_store to a node that does "
                              "(cluster_status lists them)");
      auto files = r->second.files;
      auto config = to_json_text(c->second.config);
      auto dir = st.cfg.backup_dir;
      auto limits = st.cfg.backup;
      auto call = spawn_io_call(
        self->system(), *st.exec, [files, config, dir, name, limits] {
          auto out = take_backup(*files, config, dir, name, limits);
          if (auto e = std::get_if<backup_error>(&out))
            return io_outcome{false, e->reason, e->message,
                              e->reason == errc::too_large
                                ? std::to_string(limits.backups_max)
                                : std::string{}};
          auto& b = std::get<backup_info>(out);
          return io_outcome{true, errc::internal_error,
                            json{{"backup", b.name},
                                 {"bytes", b.bytes},
                                 {"last_position", b.last_position}}
                              .dump(),
                            {}};
        });
      self->delegate(call, call_atom_v);
      return caf::delegated<std::string>{};
    },
    // list_backups from a gateway worker: the backups in this node's backup
    // directory, read on an IO thread.
    [self](backup_atom, list_atom) -> caf::result<std::string> {
      auto& st = self->state;
      auto dir = st.cfg.backup_dir;
      auto call = spawn_io_call(self->system(), *st.exec, [dir] {
        auto all = json::array();
        for (auto& b : list_backups(dir))
          all.push_back(json{{"name", b.name},
                             {"store", b.store},
                             {"bytes", b.bytes},
                             {"last_position", b.last_position},
                             {"created", b.created}});
        return io_outcome{true, errc::internal_error,
                          json{{"backups", std::move(all)}}.dump(), {}};
      });
      self->delegate(call, call_atom_v);
      return caf::delegated<std::string>{};
    },
    // restore_store from a gateway worker: a new store `id` from backup
    // `backup` of this node. An IO job copies the backup beside the data
    // directory (stores/backup.hpp: prepare_restore); then `store_created`
    // names this node the one founder and the backup: the replica starts
    // here from the copy (open_replica), and membership reconciliation adds
    // the placement's nodes, which receive the copy as the leader's
    // snapshot image. Answers like create_store, once the store runs.
    [self](restore_atom, std::string& id,
           std::string& backup) -> caf::result<store_info> {
      auto& st = self->state;
      if (!valid_store_id(id))
        return make_error(errc::invalid_params, "invalid store id");
      auto c = st.catalog.find(id);
      if ((c != st.catalog.end() && !c->second.removed)
          || st.restoring.count(id) > 0)
        return make_error(errc::already_exists,
                          "store " + id + " already exists");
      if (st.replicas.count(id) > 0)
        return make_error(errc::unavailable,
                          "store " + id + " is still being removed here; "
                                          "retry in a moment");
      if (st.catalog.size() >= st.cfg.stores_max)
        return make_error(errc::overloaded,
                          "the cluster holds its maximum number of stores ("
                            + std::to_string(st.cfg.stores_max) + ")");
      st.restoring[id] = backup;
      auto rp = self->make_response_promise<store_info>();
      auto dir = st.cfg.backup_dir;
      auto staged = restore_dir_of(st, id);
      auto call = spawn_io_call(self->system(), *st.exec,
                                [dir, backup, staged] {
                                  std::error_code ec;
                                  fs::remove_all(staged, ec);
                                  auto out = prepare_restore(dir, backup,
                                                             staged);
                                  if (auto e = std::get_if<backup_error>(&out))
                                    return io_outcome{false, e->reason,
                                                      e->message, {}};
                                  return io_outcome{
                                    true, errc::internal_error,
                                    std::get<backup_info>(out).config_json,
                                    {}};
                                });
      auto give_up = [self, id, staged](auto& rp, caf::error err) {
        self->state.restoring.erase(id);
        self->state.exec->submit([staged] {
          std::error_code ec;
          fs::remove_all(staged, ec);
        });
        rp.deliver(std::move(err));
      };
      self->request(call, caf::infinite, call_atom_v)
        .then(
          [self, rp, id, backup, give_up](std::string& config_text) mutable {
            store_config cfg;
            try {
              cfg = config_from_json_text(id, config_text);
            } catch (const std::exception& e) {
              give_up(rp, make_error(errc::internal_error,
                                     std::string{"backup " + backup
                                                 + " has a bad config: "}
                                       + e.what()));
              return;
            }
            cfg.id = id;
            append_store_created(
              self, cfg,
              [self, rp, id, give_up](caf::expected<command_result> r) mutable {
                if (!r) {
                  give_up(rp, r.error());
                  return;
                }
                if (r->code != result_code::ok) {
                  give_up(rp, r->code == result_code::wrong_expected_version
                                ? make_error(errc::already_exists,
                                             "store " + id + " already exists")
                                : make_error(errc::internal_error, r->message));
                  return;
                }
                auto& st = self->state;
                st.creating[id].push_back(rp);
                if (st.catalog.count(id) > 0 && !st.catalog[id].removed)
                  await_running(self, id);
              },
              backup);
          },
          [rp, give_up](caf::error& err) mutable { give_up(rp, err); });
      return rp;
    },
    // remove_store from a gateway worker: append `store_removed`; every
    // node then stops its replica and deletes its data. Answers once this
    // node's replica (if any) is gone.
    [self](remove_atom, std::string& id) -> caf::result<bool> {
      auto& st = self->state;
      if (id == st.cfg.default_store)
        return make_error(errc::forbidden,
                          "the default store cannot be removed");
      auto c = st.catalog.find(id);
      if (c == st.catalog.end() || c->second.removed)
        return make_error(errc::not_found, "store " + id + " does not exist");
      auto cmd = catalog_event(store_stream(id), c->second.version,
                               store_removed + std::string{"-"} + id + "-"
                                 + unique_suffix(st),
                               store_removed, json::object());
      auto rp = self->make_response_promise<bool>();
      route_write(self, system_store_id, cmd,
                  [self, rp, id](caf::expected<command_result> r) mutable {
                    if (!r) {
                      rp.deliver(r.error());
                      return;
                    }
                    if (r->code != result_code::ok) {
                      rp.deliver(make_error(errc::not_found,
                                            "store " + id + " does not exist"));
                      return;
                    }
                    auto& st = self->state;
                    auto i = st.replicas.find(id);
                    if (i == st.replicas.end())
                      rp.deliver(true);
                    else
                      i->second.waiters.push_back(rp);
                  });
      return rp;
    },
    [self](list_atom) {
      auto& st = self->state;
      std::vector<store_info> result;
      for (auto& kv : st.catalog)
        if (!kv.second.removed)
          result.push_back(info_of(st, kv.first));
      return result;
    },
    [self](caf::get_atom, std::string& id) -> caf::result<store_info> {
      auto& st = self->state;
      auto c = st.catalog.find(id);
      if (c == st.catalog.end() || c->second.removed)
        return make_error(errc::not_found, "store " + id + " does not exist");
      return info_of(st, id);
    },
    // get_store_status from a gateway worker: the store's status, figures,
    // leader and members as JSON text (store_status). Never waits longer
    // than status_timeout_ms for a part.
    [self](info_atom, std::string& id) -> caf::result<std::string> {
      auto& st = self->state;
      auto c = st.catalog.find(id);
      if (c == st.catalog.end() || c->second.removed)
        return make_error(errc::not_found, "store " + id + " does not exist");
      auto rp = self->make_response_promise<std::string>();
      store_status(self, id, rp);
      return rp;
    },
    // leave_cluster from a gateway worker: append `node_left`; the leaders
    // then move every replica off the node (one membership change at a
    // time) and tell it to retire them. Answers once the catalog recorded it.
    [self](caf::leave_atom, std::string& node) -> caf::result<bool> {
      auto& st = self->state;
      if (std::find(st.nodes.begin(), st.nodes.end(), node) == st.nodes.end())
        return make_error(errc::not_found, "node " + node
                                             + " is not a member", "node");
      if (st.nodes.size() == 1)
        return make_error(errc::forbidden, "the last node cannot leave");
      auto cmd = catalog_event(nodes_stream, -2,
                               "leave-" + node + "-" + unique_suffix(st),
                               node_left, json{{"name", node}});
      auto rp = self->make_response_promise<bool>();
      route_write(self, system_store_id, cmd,
                  [rp](caf::expected<command_result> r) mutable {
                    if (!r)
                      rp.deliver(r.error());
                    else
                      rp.deliver(r->code == result_code::ok);
                  });
      return rp;
    },
    [self](cluster_atom) {
      auto rp = self->make_response_promise<std::string>();
      cluster_status(self, rp);
      return rp;
    },
    // Routing: a write or a read goes to the store's leader, wherever it is.
    [self](write_atom, std::string& id,
           command& cmd) -> caf::result<command_result> {
      auto& st = self->state;
      auto c = st.catalog.find(id);
      if (c == st.catalog.end() || c->second.removed)
        return make_error(errc::not_found, "store " + id + " does not exist");
      auto rp = self->make_response_promise<command_result>();
      route_write(self, id, std::move(cmd), [rp](caf::expected<command_result> r) mutable {
        if (r)
          rp.deliver(std::move(*r));
        else
          rp.deliver(r.error());
      });
      return rp;
    },
    [self](read_atom, std::string& id, query& q) -> caf::result<query_result> {
      auto& st = self->state;
      auto c = st.catalog.find(id);
      if (c == st.catalog.end() || c->second.removed)
        return make_error(errc::not_found, "store " + id + " does not exist");
      auto rp = self->make_response_promise<query_result>();
      route_read(self, id, std::move(q), [rp](caf::expected<query_result> r) mutable {
        if (r)
          rp.deliver(std::move(*r));
        else
          rp.deliver(r.error());
      });
      return rp;
    },
    // A routed request's retry is due.
    [self](route_atom, uint64_t id) { attempt(self, id); },
    // Subscriptions: served by this node's replica's hub.
    [self](caf::subscribe_atom, std::string& id, subscribe_request& req,
           caf::actor& who) -> caf::result<subscribe_reply, caf::actor> {
      caf::actor hub;
      if (auto err = route_to_hub(self, id, hub))
        return err;
      auto rp = self->make_response_promise();
      rp.delegate(hub, caf::subscribe_atom_v, std::move(req), std::move(who));
      return caf::delegated<subscribe_reply, caf::actor>{};
    },
    [self](caf::unsubscribe_atom, std::string& id, std::string& sub,
           caf::actor& who) -> caf::result<bool> {
      caf::actor hub;
      if (auto err = route_to_hub(self, id, hub))
        return err;
      auto rp = self->make_response_promise();
      rp.delegate(hub, caf::unsubscribe_atom_v, std::move(sub), std::move(who));
      return caf::delegated<bool>{};
    },
    [self](ack_atom, std::string& id, std::string& sub, int64_t position,
           caf::actor& who) -> caf::result<int64_t> {
      caf::actor hub;
      if (auto err = route_to_hub(self, id, hub))
        return err;
      auto rp = self->make_response_promise();
      rp.delegate(hub, ack_atom_v, std::move(sub), position, std::move(who));
      return caf::delegated<int64_t>{};
    },
    [self](remove_atom, std::string& id, std::string& name, std::string& type,
           std::string& selector) -> caf::result<bool> {
      caf::actor hub;
      if (auto err = route_to_hub(self, id, hub))
        return err;
      auto rp = self->make_response_promise();
      rp.delegate(hub, remove_atom_v, std::move(name), std::move(type),
                  std::move(selector));
      return caf::delegated<bool>{};
    },
    [self](list_atom, std::string& id)
      -> caf::result<std::vector<subscription_info>> {
      caf::actor hub;
      if (auto err = route_to_hub(self, id, hub))
        return err;
      auto rp = self->make_response_promise();
      rp.delegate(hub, list_atom_v);
      return caf::delegated<std::vector<subscription_info>>{};
    },
  };
}

} // namespace

caf::actor spawn_store_manager(caf::actor_system& sys, store_manager_config cfg,
                               executor& exec) {
  return sys.spawn(store_manager, std::move(cfg), &exec);
}

} // namespace cxesdb::stores
