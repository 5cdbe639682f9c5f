#include "gateway/json_rpc_server.hpp"

#include <map>
#include <memory>
#include <utility>

#include "caf/actor_system.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/send.hpp"
#include "caf/stateful_actor.hpp"

#include "actors/type_ids.hpp"
#include "gateway/auth_gate.hpp"
#include "gateway/json_rpc.hpp"
#include "gateway/socket_server.hpp"
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
  std::shared_ptr<connection_output> out;
  size_t subscriber_buffer_bytes_max = 0;
  /// By subscription id.
  std::map<std::string, active_subscription> subs;

  static inline const char* name = "json_rpc_connection";
};

using connection_actor = caf::stateful_actor<connection_state>;

/// Queues one line (without its `\n`); returns the connection's unsent bytes.
size_t write_line(connection_actor* self, std::string line) {
  line.push_back('\n');
  return self->state.out->write(std::move(line));
}

/// A client that does not read its events: drop its transient subscriptions
/// (persistent ones are bounded by their max_in_flight and stay).
void drop_slow_subscriptions(connection_actor* self) {
  auto& st = self->state;
  for (auto i = st.subs.begin(); i != st.subs.end();) {
    if (i->second.persistent) {
      ++i;
      continue;
    }
    self->send(i->second.emitter, caf::leave_atom_v,
               caf::actor_cast<caf::actor>(self));
    write_line(self,
               dropped_notification(i->second.store, i->first, "slow_consumer"));
    i = st.subs.erase(i);
  }
}

/// The actor of one client connection: the address gateway workers answer
/// and emitters deliver to. It owns no socket: it formats what it gets and
/// queues it on the connection's output for the IO thread. It never blocks
/// (queueing takes a short lock and never waits for the socket).
caf::behavior connection(connection_actor* self,
                         std::shared_ptr<connection_output> out,
                         size_t subscriber_buffer_bytes_max) {
  auto& st = self->state;
  st.out = out;
  st.subscriber_buffer_bytes_max = subscriber_buffer_bytes_max;
  // The IO thread closed the socket (the client went away, or the node
  // stops): quit, whatever the reason; the emitters see us go down and end
  // our subscriptions.
  self->set_exit_handler([self](caf::exit_msg& msg) { self->quit(msg.reason); });
  // However we stop, the socket closes.
  self->attach_functor([out] { out->close(); });
  return {
    // A gateway worker answered one message the IO thread handed it (an
    // empty answer: a notification). Exactly one per message: it ends the
    // message's time in work.
    [self](reply_atom, std::string& resp) {
      if (!resp.empty())
        resp.push_back('\n');
      self->state.out->answered(std::move(resp));
    },
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
    // Events of a subscription (its emitter): one notification each. A
    // transient subscription gets more credit only while the client keeps
    // up; beyond subscriber_buffer_bytes_max unsent, it is dropped.
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
      auto unsent = st.out->write(std::move(out));
      if (!i->second.persistent) {
        if (unsent > st.subscriber_buffer_bytes_max) {
          drop_slow_subscriptions(self);
          return;
        }
        self->send(i->second.emitter, credit_atom_v, id,
                   static_cast<int64_t>(events.size()),
                   caf::actor_cast<caf::actor>(self));
      }
    },
    // A subscription ended without being asked to (its emitter).
    [self](dropped_atom, std::string& store, std::string& id,
           std::string& reason) {
      if (self->state.subs.erase(id) == 0)
        return;
      write_line(self, dropped_notification(store, id, reason));
    },
  };
}

/// Connects the socket server's IO thread to a connection's actor. Runs on
/// the IO thread: it only sends messages, never waits.
class rpc_handler final : public connection_handler {
public:
  rpc_handler(caf::actor gateway, caf::actor conn,
              std::shared_ptr<connection_output> out,
              std::shared_ptr<const std::string> too_large,
              std::unique_ptr<auth_gate> gate)
    : gateway_(std::move(gateway)),
      conn_(std::move(conn)),
      out_(std::move(out)),
      too_large_(std::move(too_large)),
      gate_(std::move(gate)) {
    // nop
  }

  void on_line(std::string line) override {
    // -- security (gateway/auth_gate.hpp): with --auth-file, the gate
    // answers authenticate and every message carries the principal --
    if (gate_) {
      if (closing_) {
        out_->answered(std::string{}); // read before the close: dropped
        return;
      }
      auto o = gate_->on_line(line);
      if (o.kind == auth_gate::outcome::forward) {
        caf::anon_send(gateway_, rpc_atom_v, std::move(line), conn_,
                       gate_->principal());
        return;
      }
      if (!o.text.empty())
        o.text.push_back('\n');
      out_->answered(std::move(o.text));
      if (o.kind == auth_gate::outcome::answer_and_close) {
        closing_ = true;
        out_->finish();
      }
      return;
    }
    // -- end security --
    caf::anon_send(gateway_, rpc_atom_v, std::move(line), conn_);
  }

  void on_line_too_long() override {
    out_->write(*too_large_);
  }

  void on_closed() override {
    caf::anon_send_exit(conn_, caf::exit_reason::normal);
  }

private:
  caf::actor gateway_;
  caf::actor conn_;
  std::shared_ptr<connection_output> out_;
  std::shared_ptr<const std::string> too_large_;
  std::unique_ptr<auth_gate> gate_; ///< null: authentication is off
  bool closing_ = false;            ///< the gate closes the connection
};

// -- the server -----------------------------------------------------------------

struct server_state {
  std::shared_ptr<socket_server> sockets;
  uint16_t port = 0;

  static inline const char* name = "json_rpc_server";
};

using server_actor = caf::stateful_actor<server_state>;

/// Owns the socket server for the node. Runs detached (a thread of its own,
/// not a scheduler thread), because stopping waits for the IO thread.
caf::behavior serve(server_actor* self, std::shared_ptr<socket_server> sockets,
                     uint16_t port) {
  self->state.sockets = std::move(sockets);
  self->state.port = port;
  // The node stops (main thread): stop the IO thread, which closes every
  // client connection and stops their actors.
  self->set_exit_handler([self](caf::exit_msg& msg) {
    self->state.sockets->stop();
    self->quit(msg.reason);
  });
  return {
    // Anyone: the port the server listens on.
    [self](caf::get_atom) { return self->state.port; },
  };
}

} // namespace

uint16_t start_json_rpc_server(caf::actor_system& sys, caf::actor gateway,
                               const server_config& cfg, caf::actor& server,
                               std::string& err,
                               std::shared_ptr<const auth_registry> auth) {
  auto e = make_rpc_error(errc::too_large,
                          "message longer than "
                            + std::to_string(cfg.message_bytes_max) + " bytes");
  e.data["limit"] = cfg.message_bytes_max;
  auto too_large = std::make_shared<const std::string>(error_response("null", e)
                                                       + "\n");
  auto refused = make_rpc_error(errc::overloaded, "too many connections");
  refused.data["limit"] = cfg.connections_max;
  auto refusal = error_response("null", refused) + "\n";
  auto sub_max = cfg.subscriber_buffer_bytes_max;
  auto make_handler = [&sys, gateway, too_large, sub_max,
                       auth](std::shared_ptr<connection_output> out)
    -> std::unique_ptr<connection_handler> {
    auto conn = sys.spawn<caf::lazy_init>(connection, out, sub_max);
    return std::make_unique<rpc_handler>(
      gateway, std::move(conn), std::move(out), too_large,
      auth ? std::make_unique<auth_gate>(auth) : nullptr);
  };
  auto sockets = std::make_shared<socket_server>(cfg, std::move(make_handler),
                                                 std::move(refusal));
  auto port = sockets->listen(err);
  if (port == 0)
    return 0;
  sockets->start();
  server = sys.spawn<caf::detached>(serve, std::move(sockets), port);
  return port;
}

} // namespace cxesdb::gateway
