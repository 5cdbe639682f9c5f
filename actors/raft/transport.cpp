#include "actors/raft/transport.hpp"

#include <unordered_map>
#include <utility>

#include "caf/actor_system.hpp"
#include "caf/send.hpp"
#include "caf/stateful_actor.hpp"
#include "caf/typed_event_based_actor.hpp"

#include "actors/raft/transport_codec.hpp"

namespace cxesdb::actors::raft {

namespace {

struct transport_state {
  transport_config cfg;
  /// The local replica of each group.
  std::unordered_map<std::string, caf::actor> members;
  /// Each peer node's transport, by Raft id.
  std::unordered_map<uint64_t, transport_actor> peers;
  /// The batch waiting for each peer.
  std::unordered_map<uint64_t, std::string> batches;
  /// A flush message is on its way.
  bool flush_due = false;

  static inline const char* name = "raft_transport";
};

using transport_ptr = transport_actor::stateful_pointer<transport_state>;

/// Sends the batch waiting for peer `to`, if any.
void flush(transport_ptr self, uint64_t to) {
  auto& st = self->state;
  auto b = st.batches.find(to);
  if (b == st.batches.end())
    return;
  auto p = st.peers.find(to);
  if (p != st.peers.end())
    self->send(p->second, raft_batch_atom::value, std::move(b->second));
  st.batches.erase(b);
}

transport_actor::behavior_type transport(transport_ptr self,
                                         transport_config cfg) {
  self->state.cfg = cfg;
  // Peers are other processes: what this node does not understand (an older
  // or newer peer) is dropped, never fatal.
  self->set_default_handler(caf::drop);
  return {
    // A local replica (its Raft member) sends a message to a peer. Never
    // blocks: the message is appended to that peer's batch.
    [self](raft_msg_atom, std::string& group, uint64_t to, std::string& bytes) {
      auto& st = self->state;
      if (st.peers.count(to) == 0)
        return; // unknown or down: Raft treats it as lost
      auto& batch = st.batches[to];
      append_routed(batch, group, bytes);
      if (batch.size() >= st.cfg.batch_bytes_max) {
        flush(self, to);
        return;
      }
      if (!st.flush_due) {
        st.flush_due = true;
        self->send(self, raft_flush_atom::value);
      }
    },
    // Sent to itself after the first message of a round: everything that
    // was in the mailbox before it joined the batches, which leave now.
    [self](raft_flush_atom) {
      auto& st = self->state;
      st.flush_due = false;
      while (!st.batches.empty())
        flush(self, st.batches.begin()->first);
    },
    // A peer node's transport delivers a batch. Hostile bytes are dropped
    // whole, never trusted.
    [self](raft_batch_atom, std::string& batch) {
      auto& st = self->state;
      auto msgs = decode_routed(batch);
      if (!msgs)
        return;
      for (auto& m : *msgs) {
        auto r = st.members.find(m.group);
        if (r != st.members.end())
          caf::anon_send(r->second, raft_msg_atom::value, std::move(m.bytes));
      }
    },
    // The store manager, after each (re)start or stop of a replica.
    [self](raft_member_atom, std::string& group, caf::actor& replica) {
      auto& st = self->state;
      if (replica)
        st.members[group] = std::move(replica);
      else
        st.members.erase(group);
    },
    // The store manager, when it finds a peer's transport or the peer goes
    // down.
    [self](raft_peer_atom, uint64_t id, caf::actor& peer) {
      auto& st = self->state;
      if (peer) {
        st.peers[id] = caf::actor_cast<transport_actor>(std::move(peer));
      } else {
        st.peers.erase(id);
        st.batches.erase(id);
      }
    },
  };
}

} // namespace

transport_actor spawn_transport(caf::actor_system& sys, transport_config cfg) {
  return sys.spawn(transport, cfg);
}

} // namespace cxesdb::actors::raft
