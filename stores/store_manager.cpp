#include "stores/store_manager.hpp"

#include <filesystem>
#include <map>
#include <set>
#include <unordered_map>

#include "caf/actor_system.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/send.hpp"
#include "caf/stateful_actor.hpp"

#include "actors/assert.hpp"
#include "actors/executor.hpp"
#include "actors/log.hpp"
#include "actors/type_ids.hpp"
#include "stores/catalog.hpp"
#include "stores/messages.hpp"
#include "stores/time_format.hpp"

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<caf::actor>)

namespace cxesdb::stores {

using namespace cxesdb::actors;
namespace fs = std::filesystem;

namespace {

/// The catalog and the mutex that serialises the IO jobs using it.
struct catalog_box {
  std::mutex mtx;
  std::unique_ptr<catalog> cat;
};

struct entry {
  store_info info;
  std::shared_ptr<store_files> files;
  caf::actor group;
  caf::actor writer;
  caf::actor reader;
  caf::actor hub;
  bool is_new = false;
  /// create_store or remove_store requests waiting for this store.
  std::vector<caf::response_promise> waiters;
};

struct manager_state {
  store_manager_config cfg;
  executor* exec = nullptr;
  std::shared_ptr<catalog_box> cat;
  std::map<std::string, entry> stores;
  std::unordered_map<caf::actor_addr, std::string> by_group;
  bool ready = false;
  size_t startup_pending = 0;
  std::vector<caf::response_promise> ready_waiters;

  static inline const char* name = "store_manager";
};

using manager_actor = caf::stateful_actor<manager_state>;

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

/// Removes the directories of stores the catalog does not list: what a
/// crash left of a create_store before its catalog entry was written, or of
/// a remove_store after its entry was deleted. Only directories named like a
/// store that hold nothing but a store's database files (or nothing, when
/// the crash came between mkdir and open) are touched. Runs on an IO thread
/// at start-up.
void remove_orphans(const std::string& data_dir,
                    const std::vector<store_config>& configs) {
  std::set<std::string> known;
  for (auto& c : configs)
    known.insert(c.id);
  for (auto& entry : fs::directory_iterator(data_dir)) {
    auto id = entry.path().filename().string();
    if (!entry.is_directory() || !valid_store_id(id) || known.count(id) > 0)
      continue;
    bool only_store_files = true;
    for (auto& f : fs::directory_iterator(entry.path())) {
      auto n = f.path().filename().string();
      only_store_files = only_store_files && f.is_regular_file()
                         && (n == "store.db" || n.rfind("store.db-", 0) == 0);
    }
    if (!only_store_files)
      continue;
    log_warning("removing " + entry.path().string()
                + ": a store the catalog does not list (left by a crash)");
    fs::remove_all(entry.path());
  }
}

void check_ready(manager_actor* self) {
  auto& st = self->state;
  if (st.ready || st.startup_pending > 0)
    return;
  st.ready = true;
  log_info("store manager ready: " + std::to_string(st.stores.size())
           + " store(s) in " + st.cfg.data_dir);
  for (auto& rp : st.ready_waiters)
    rp.deliver(true);
  st.ready_waiters.clear();
}

/// Opens a store's files on an IO thread; a new store gets a fresh directory
/// (a leftover of an interrupted remove is wiped) and its catalog entry.
void open_store(manager_actor* self, const store_config& cfg, bool is_new) {
  auto& st = self->state;
  auto cat = st.cat;
  auto exec = st.exec;
  auto readers = st.cfg.readers_per_store;
  auto me = caf::actor_cast<caf::actor>(self);
  exec->submit([cfg, is_new, cat, exec, readers, me] {
    std::shared_ptr<store_files> files;
    std::string err;
    try {
      if (is_new && fs::exists(cfg.data_dir))
        fs::remove_all(cfg.data_dir);
      fs::create_directories(cfg.data_dir);
      auto f = store_files::open(cfg.id, cfg.data_dir, readers);
      if (is_new) {
        std::lock_guard<std::mutex> guard{cat->mtx};
        cat->cat->put(cfg);
      }
      files = share(std::move(f), exec, me);
    } catch (const std::exception& e) {
      err = e.what();
      if (is_new) {
        std::error_code ec;
        fs::remove_all(cfg.data_dir, ec);
      }
    }
    caf::anon_send(me, opened_atom_v, cfg.id, std::move(files),
                   std::move(err));
  });
}

void begin_create(manager_actor* self, store_config cfg) {
  auto& st = self->state;
  cfg.data_dir = fs::absolute(fs::path{st.cfg.data_dir} / cfg.id)
                   .lexically_normal()
                   .string();
  cfg.created_at = format_iso8601_us(now_epoch_us());
  auto& e = st.stores[cfg.id];
  e.info.config = cfg;
  e.info.status = store_status::starting;
  e.is_new = true;
  open_store(self, cfg, true);
}

/// Finds the running store `id`'s hub, or says why there is none.
caf::error route_to_hub(manager_actor* self, const std::string& id,
                        caf::actor& hub) {
  auto& st = self->state;
  auto i = st.stores.find(id);
  if (i == st.stores.end())
    return make_error(errc::not_found, "store " + id + " does not exist");
  if (i->second.info.status != store_status::running || !i->second.hub)
    return make_error(errc::unavailable,
                      "store " + id + " is " + to_string(i->second.info.status));
  hub = i->second.hub;
  return caf::none;
}

caf::behavior store_manager(manager_actor* self, store_manager_config cfg,
                            executor* exec) {
  auto& st = self->state;
  st.cfg = std::move(cfg);
  st.exec = exec;
  // The catalog's connection closes on an IO thread too, whoever lets go last.
  st.cat = std::shared_ptr<catalog_box>(new catalog_box, [exec](catalog_box* p) {
    exec->submit([p] { delete p; });
  });
  // Stopping (node shutdown): stop every store group first.
  self->set_exit_handler([self](const caf::exit_msg& msg) {
    for (auto& kv : self->state.stores)
      if (kv.second.group)
        self->send_exit(kv.second.group, msg.reason);
    self->quit(msg.reason);
  });
  // Load the catalog, then open every store in it.
  {
    auto cat = st.cat;
    auto data_dir = st.cfg.data_dir;
    auto me = caf::actor_cast<caf::actor>(self);
    exec->submit([cat, data_dir, me] {
      std::vector<store_config> configs;
      std::string err;
      try {
        fs::create_directories(data_dir);
        std::lock_guard<std::mutex> guard{cat->mtx};
        cat->cat = std::make_unique<catalog>(data_dir);
        configs = cat->cat->load();
        remove_orphans(data_dir, configs);
      } catch (const std::exception& e) {
        err = e.what();
      }
      caf::anon_send(me, loaded_atom_v, std::move(configs), std::move(err));
    });
  }
  return {
    // Start-up: the catalog is read. Open every store; create the default
    // store when the catalog does not have it.
    [self](loaded_atom, std::vector<store_config>& configs, std::string& err) {
      auto& st = self->state;
      if (!err.empty()) {
        log_error("cannot read the catalog: " + err);
        self->quit(make_error(errc::internal_error, err));
        return;
      }
      bool has_default = false;
      for (auto& c : configs) {
        has_default = has_default || c.id == st.cfg.default_store;
        auto& e = st.stores[c.id];
        e.info.config = c;
        e.info.status = store_status::starting;
        ++st.startup_pending;
        open_store(self, c, false);
      }
      if (!has_default) {
        ++st.startup_pending;
        store_config c;
        c.id = st.cfg.default_store;
        c.has_description = true;
        c.description = "the default store";
        begin_create(self, std::move(c));
      }
      check_ready(self);
    },
    // The node's main thread waits for start-up before it listens.
    [self](ready_atom) -> caf::result<bool> {
      auto& st = self->state;
      if (st.ready)
        return true;
      st.ready_waiters.push_back(self->make_response_promise());
      return caf::delegated<bool>{};
    },
    // An IO job opened (or failed to open) a store's files: start its group.
    [self](opened_atom, std::string& id,
           std::shared_ptr<store_files>& files, std::string& err) {
      auto& st = self->state;
      auto i = st.stores.find(id);
      CXESDB_ASSERT(i != st.stores.end());
      auto& e = i->second;
      if (!err.empty()) {
        log_error("cannot open store " + id + ": " + err);
        for (auto& rp : e.waiters)
          rp.deliver(make_error(errc::internal_error, err));
        if (e.is_new) {
          st.stores.erase(i);
        } else {
          e.info.status = store_status::unavailable;
        }
        if (st.startup_pending > 0 && !st.ready) {
          --st.startup_pending;
          check_ready(self);
        }
        return;
      }
      e.files = std::move(files);
      e.group = spawn_store_group(self->system(), e.files, *st.exec,
                                  st.cfg.group_limits, st.cfg.sub_limits,
                                  caf::actor_cast<caf::actor>(self));
      st.by_group.emplace(e.group.address(), id);
    },
    // A store's supervisor (re)started its children: route to them.
    [self](children_atom, std::vector<caf::actor>& kids) {
      auto& st = self->state;
      auto g = st.by_group.find(caf::actor_cast<caf::actor_addr>(self->current_sender()));
      if (g == st.by_group.end())
        return; // a group being removed
      auto& e = st.stores[g->second];
      CXESDB_ASSERT(kids.size() == 3);
      e.writer = kids[0];
      e.reader = kids[1];
      e.hub = kids[2];
      self->send(e.writer, wire_atom_v, e.hub);
      self->send(e.hub, wire_atom_v, e.writer, e.reader);
      if (e.info.status != store_status::starting) {
        log_warning("store " + g->second + " restarted its actors");
        return;
      }
      e.info.status = store_status::running;
      log_info((e.is_new ? "store created: " : "store opened: ") + g->second
               + " in " + e.info.config.data_dir);
      for (auto& rp : e.waiters)
        rp.deliver(e.info);
      e.waiters.clear();
      if (st.startup_pending > 0 && !st.ready) {
        --st.startup_pending;
        check_ready(self);
      }
    },
    // A store's supervisor stopped restarting its children.
    [self](gave_up_atom) {
      auto& st = self->state;
      auto g = st.by_group.find(caf::actor_cast<caf::actor_addr>(self->current_sender()));
      if (g == st.by_group.end())
        return;
      log_error("store " + g->second + " is unavailable: its actors kept failing");
      auto& e = st.stores[g->second];
      e.info.status = store_status::unavailable;
      e.writer = e.reader = e.hub = e.group = nullptr;
      st.by_group.erase(g);
    },
    // create_store from a gateway worker; the config is already validated.
    [self](create_atom, store_config& cfg) -> caf::result<store_info> {
      auto& st = self->state;
      if (!valid_store_id(cfg.id))
        return make_error(errc::invalid_params, "invalid store id");
      if (st.stores.count(cfg.id) > 0)
        return make_error(errc::already_exists,
                          "store " + cfg.id + " already exists");
      if (st.stores.size() >= st.cfg.stores_max)
        return make_error(errc::overloaded,
                          "this node holds its maximum number of stores ("
                            + std::to_string(st.cfg.stores_max) + ")");
      auto id = cfg.id;
      begin_create(self, std::move(cfg));
      st.stores[id].waiters.push_back(self->make_response_promise());
      return caf::delegated<store_info>{};
    },
    // remove_store from a gateway worker: stop the group, wait until its
    // files are closed, then drop the catalog entry and the directory.
    [self](remove_atom, std::string& id) -> caf::result<bool> {
      auto& st = self->state;
      if (id == st.cfg.default_store)
        return make_error(errc::forbidden, "the default store cannot be removed");
      auto i = st.stores.find(id);
      if (i == st.stores.end())
        return make_error(errc::not_found, "store " + id + " does not exist");
      auto& e = i->second;
      if (e.info.status == store_status::starting
          || e.info.status == store_status::stopping)
        return make_error(errc::unavailable,
                          "store " + id + " is being created or removed");
      e.info.status = store_status::stopping;
      e.waiters.push_back(self->make_response_promise());
      if (e.group) {
        st.by_group.erase(e.group.address());
        self->send_exit(e.group, caf::exit_reason::user_shutdown);
      }
      e.group = e.writer = e.reader = e.hub = nullptr;
      e.files.reset(); // closes once the group's actors and jobs let go
      return caf::delegated<bool>{};
    },
    // The files of a store are closed (see `share`).
    [self](closed_atom, std::string& id) {
      auto& st = self->state;
      auto i = st.stores.find(id);
      if (i == st.stores.end() || i->second.info.status != store_status::stopping)
        return;
      auto cat = st.cat;
      auto dir = i->second.info.config.data_dir;
      auto me = caf::actor_cast<caf::actor>(self);
      st.exec->submit([cat, id, dir, me] {
        std::string err;
        try {
          {
            std::lock_guard<std::mutex> guard{cat->mtx};
            cat->cat->erase(id);
          }
          fs::remove_all(dir);
        } catch (const std::exception& e) {
          err = e.what();
        }
        caf::anon_send(me, removed_atom_v, id, std::move(err));
      });
    },
    [self](removed_atom, std::string& id, std::string& err) {
      auto& st = self->state;
      auto i = st.stores.find(id);
      CXESDB_ASSERT(i != st.stores.end());
      if (!err.empty())
        log_error("removing store " + id + ": " + err);
      else
        log_info("store removed: " + id);
      for (auto& rp : i->second.waiters) {
        if (err.empty())
          rp.deliver(true);
        else
          rp.deliver(make_error(errc::internal_error, err));
      }
      st.stores.erase(i);
    },
    [self](list_atom) {
      std::vector<store_info> result;
      for (auto& kv : self->state.stores)
        result.push_back(kv.second.info);
      return result;
    },
    [self](caf::get_atom, std::string& id) -> caf::result<store_info> {
      auto& st = self->state;
      auto i = st.stores.find(id);
      if (i == st.stores.end())
        return make_error(errc::not_found, "store " + id + " does not exist");
      return i->second.info;
    },
    // Routing: a write goes to the store's writer, a read to its reader.
    [self](write_atom, std::string& id,
           command& cmd) -> caf::result<command_result> {
      auto& st = self->state;
      auto i = st.stores.find(id);
      if (i == st.stores.end())
        return make_error(errc::not_found, "store " + id + " does not exist");
      if (i->second.info.status != store_status::running || !i->second.writer)
        return make_error(errc::unavailable, "store " + id + " is "
                                               + to_string(i->second.info.status));
      auto rp = self->make_response_promise();
      rp.delegate(i->second.writer, write_atom_v, std::move(cmd));
      return caf::delegated<command_result>{};
    },
    // Subscriptions: routed to the store's hub.
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
    [self](read_atom, std::string& id, query& q) -> caf::result<query_result> {
      auto& st = self->state;
      auto i = st.stores.find(id);
      if (i == st.stores.end())
        return make_error(errc::not_found, "store " + id + " does not exist");
      if (i->second.info.status != store_status::running || !i->second.reader)
        return make_error(errc::unavailable, "store " + id + " is "
                                               + to_string(i->second.info.status));
      auto rp = self->make_response_promise();
      rp.delegate(i->second.reader, read_atom_v, std::move(q));
      return caf::delegated<query_result>{};
    },
  };
}

} // namespace

caf::actor spawn_store_manager(caf::actor_system& sys, store_manager_config cfg,
                               executor& exec) {
  return sys.spawn(store_manager, std::move(cfg), &exec);
}

} // namespace cxesdb::stores
