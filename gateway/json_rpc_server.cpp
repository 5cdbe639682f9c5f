#include "gateway/json_rpc_server.hpp"

#include <cstring>
#include <map>
#include <set>

#include "caf/actor_system.hpp"
#include "caf/io/broker.hpp"
#include "caf/io/middleman.hpp"
#include "caf/scoped_actor.hpp"
#include "caf/stateful_actor.hpp"

#include "actors/log.hpp"
#include "actors/type_ids.hpp"
#include "gateway/json_rpc.hpp"
#include "stores/messages.hpp"

namespace cxesdb::gateway {

using namespace cxesdb::actors;
using stores::errc;

namespace {

// -- one connection -------------------------------------------------------------

/// A subscription this connection receives events of.
struct active_subscription {
  std::string store;
  caf::actor emitter;
  bool persistent = false;
};

struct connection_state {
  server_config cfg;
  caf::actor gateway;
  caf::io::connection_handle hdl;
  std::string buf;
  bool skipping = false; ///< dropping the rest of an over-long message
  size_t inflight = 0;
  bool halted = false;        ///< too many requests in work
  /// By subscription id.
  std::map<std::string, active_subscription> subs;
  /// Written but not yet sent to the client, as the last write ack said,
  /// plus what was written since.
  uint64_t unsent_bytes = 0;

  static inline const char* name = "json_rpc_connection";
};

using connection_broker = caf::stateful_actor<connection_state, caf::io::broker>;

/// Stops or resumes reading requests, by the work in flight and by the
/// answers the client has not taken yet.
void update_reading(connection_broker* self) {
  auto& st = self->state;
  bool stop = st.inflight >= st.cfg.inflight_per_connection_max
              || st.unsent_bytes > st.cfg.output_bytes_max;
  bool resume = st.inflight <= st.cfg.inflight_per_connection_max / 2
                && st.unsent_bytes <= st.cfg.output_bytes_max / 2;
  if (!st.halted && stop) {
    self->halt(st.hdl);
    st.halted = true;
  } else if (st.halted && resume) {
    self->trigger(st.hdl);
    st.halted = false;
  }
}

void write_line(connection_broker* self, std::string& line) {
  line.push_back('\n');
  self->write(self->state.hdl, line.size(), line.data());
  self->flush(self->state.hdl);
  self->state.unsent_bytes += line.size();
}

/// A client that does not read its events: drop its transient subscriptions
/// (persistent ones are bounded by their max_in_flight and stay).
void drop_slow_subscriptions(connection_broker* self) {
  auto& st = self->state;
  for (auto i = st.subs.begin(); i != st.subs.end();) {
    if (i->second.persistent) {
      ++i;
      continue;
    }
    self->send(i->second.emitter, caf::leave_atom_v,
               caf::actor_cast<caf::actor>(self));
    auto line = dropped_notification(i->second.store, i->first,
                                     "slow_consumer");
    write_line(self, line);
    i = st.subs.erase(i);
  }
}

void too_large(connection_broker* self) {
  auto e = make_rpc_error(errc::too_large,
                          "message longer than "
                            + std::to_string(self->state.cfg.message_bytes_max)
                            + " bytes");
  e.data["limit"] = self->state.cfg.message_bytes_max;
  auto line = error_response("null", e);
  write_line(self, line);
}

void dispatch(connection_broker* self, std::string& line) {
  auto& st = self->state;
  if (!line.empty() && line.back() == '\r')
    line.pop_back();
  if (line.find_first_not_of(" \t\r") == std::string::npos)
    return; // blank lines are keep-alives, not messages
  ++st.inflight;
  self->send(st.gateway, rpc_atom_v, std::move(line),
             caf::actor_cast<caf::actor>(self));
  line = std::string{};
}

caf::behavior connection(connection_broker* self, caf::io::connection_handle hdl,
                         server_config cfg, caf::actor gateway) {
  auto& st = self->state;
  st.cfg = std::move(cfg);
  st.gateway = std::move(gateway);
  st.hdl = hdl;
  self->configure_read(hdl, caf::io::receive_policy::at_most(64 * 1024));
  // Write acknowledgements tell how much output the client has not taken.
  self->ack_writes(hdl, true);
  return {
    // Bytes arrived (the multiplexer calls this): cut them into messages.
    // Only framing happens here; parsing is the gateway workers' job.
    [self](const caf::io::new_data_msg& msg) {
      auto& st = self->state;
      auto max = st.cfg.message_bytes_max;
      const char* p = msg.buf.data();
      size_t n = msg.buf.size();
      size_t start = 0;
      while (start < n) {
        auto nl = static_cast<const char*>(std::memchr(p + start, '\n', n - start));
        if (nl == nullptr) {
          if (!st.skipping) {
            st.buf.append(p + start, n - start);
            if (st.buf.size() > max) {
              too_large(self);
              st.buf = std::string{};
              st.skipping = true;
            }
          }
          break;
        }
        auto len = static_cast<size_t>(nl - (p + start));
        // A "\r\n" ending does not count toward the limit.
        auto body = st.buf.size() + len;
        if (body > 0 && (len > 0 ? p[start + len - 1] : st.buf.back()) == '\r')
          --body;
        if (st.skipping) {
          st.skipping = false;
        } else if (body > max) {
          too_large(self);
          st.buf.clear();
        } else {
          st.buf.append(p + start, len);
          dispatch(self, st.buf);
        }
        start += len + 1;
      }
      update_reading(self);
    },
    // A gateway worker answered one message: write it out.
    [self](reply_atom, std::string& resp) {
      auto& st = self->state;
      if (st.inflight > 0)
        --st.inflight;
      if (!resp.empty())
        write_line(self, resp);
      update_reading(self);
    },
    [self](const caf::io::connection_closed_msg&) { self->quit(); },
    // A gateway worker wrote a save_subscription answer: start delivery by
    // granting the emitter credit.
    [self](activate_atom, std::string& store, std::string& id,
           caf::actor& emitter, int64_t max_in_flight, bool persistent) {
      auto& st = self->state;
      st.subs[id] = active_subscription{store, emitter, persistent};
      self->send(emitter, credit_atom_v, id, max_in_flight,
                 caf::actor_cast<caf::actor>(self));
    },
    // unsubscribe was answered: events still on their way are not written.
    [self](caf::leave_atom, std::string&, std::string& id) {
      self->state.subs.erase(id);
    },
    // Events of a subscription: one notification each.
    [self](event_atom, std::string& store, std::string& id,
           std::vector<stores::recorded_event>& events) {
      auto& st = self->state;
      auto i = st.subs.find(id);
      if (i == st.subs.end())
        return; // unsubscribed meanwhile
      std::string out;
      for (auto& e : events) {
        out += event_notification(store, id, e);
        out += '\n';
      }
      self->write(st.hdl, out.size(), out.data());
      self->flush(st.hdl);
      st.unsent_bytes += out.size();
      if (!i->second.persistent) {
        if (st.unsent_bytes > st.cfg.subscriber_buffer_bytes_max) {
          drop_slow_subscriptions(self);
          return;
        }
        self->send(i->second.emitter, credit_atom_v, id,
                   static_cast<int64_t>(events.size()),
                   caf::actor_cast<caf::actor>(self));
      }
    },
    // A subscription ended without being asked to.
    [self](dropped_atom, std::string& store, std::string& id,
           std::string& reason) {
      if (self->state.subs.erase(id) == 0)
        return;
      auto line = dropped_notification(store, id, reason);
      write_line(self, line);
    },
    // How much of what we wrote is still waiting for the client.
    [self](const caf::io::data_transferred_msg& msg) {
      self->state.unsent_bytes = msg.remaining;
      update_reading(self);
    },
  };
}

// -- the acceptor ---------------------------------------------------------------

struct acceptor_state {
  server_config cfg;
  caf::actor gateway;
  size_t connections = 0;
  std::set<caf::actor> children; ///< the connection brokers

  static inline const char* name = "json_rpc_server";
};

using acceptor_broker = caf::stateful_actor<acceptor_state, caf::io::broker>;

caf::behavior acceptor(acceptor_broker* self, server_config cfg,
                       caf::actor gateway) {
  self->state.cfg = std::move(cfg);
  self->state.gateway = std::move(gateway);
  self->set_down_handler([self](const caf::down_msg& msg) {
    auto& st = self->state;
    for (auto i = st.children.begin(); i != st.children.end(); ++i) {
      if (i->address() == msg.source) {
        st.children.erase(i);
        break;
      }
    }
    st.connections = st.children.size();
  });
  // The node stops: close every client connection with the server.
  self->set_exit_handler([self](const caf::exit_msg& msg) {
    for (auto& c : self->state.children)
      self->send_exit(c, msg.reason);
    self->quit(msg.reason);
  });
  return {
    // The node's main thread opens the port once, at start-up.
    [self](caf::open_atom, uint16_t port,
           std::string& host) -> caf::result<uint16_t> {
      auto r = self->add_tcp_doorman(port, host.c_str(), true);
      if (!r)
        return r.error();
      return r->second;
    },
    // A client connected: give it a broker of its own, or refuse it when
    // the node has as many connections as it takes.
    [self](const caf::io::new_connection_msg& msg) {
      auto& st = self->state;
      if (st.connections >= st.cfg.connections_max) {
        auto e = make_rpc_error(errc::overloaded, "too many connections");
        e.data["limit"] = st.cfg.connections_max;
        auto line = error_response("null", e) + "\n";
        self->write(msg.handle, line.size(), line.data());
        self->flush(msg.handle);
        self->close(msg.handle);
        return;
      }
      auto c = self->fork(connection, msg.handle, st.cfg, st.gateway);
      self->monitor(c);
      st.children.insert(c);
      st.connections = st.children.size();
    },
    [](const caf::io::connection_closed_msg&) {
      // a refused connection went away
    },
    [](const caf::io::acceptor_closed_msg&) {
      log_warning("the client port was closed");
    },
  };
}

} // namespace

uint16_t start_json_rpc_server(caf::actor_system& sys, caf::actor gateway,
                               const server_config& cfg, caf::actor& server,
                               std::string& err) {
  server = sys.middleman().spawn_broker(acceptor, cfg, std::move(gateway));
  caf::scoped_actor self{sys};
  uint16_t port = 0;
  self->request(server, std::chrono::seconds(10), caf::open_atom_v, cfg.port,
                cfg.bind)
    .receive([&](uint16_t p) { port = p; },
             [&](const caf::error& e) { err = sys.render(e); });
  if (port == 0)
    self->send_exit(server, caf::exit_reason::user_shutdown);
  return port;
}

} // namespace cxesdb::gateway
