#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "caf/fwd.hpp"
#include "caf/replies_to.hpp"
#include "caf/typed_actor.hpp"

#include "actors/raft/atoms.hpp"

namespace cxesdb::actors::raft {

/// The node's transport of Raft messages between nodes: one actor per node
/// carries the messages of every group, batched per peer node, straight
/// between the replicas and the peers' transports (no store manager in
/// between).
///
/// - `(raft_msg_atom, group, uint64 to, bytes)`: a local replica's message
///   for member `to` (a Raft id: the stable hash of a node's name) of its
///   group. It joins the batch for that node; batches leave when the
///   transport has handled what was in its mailbox (a flush message to
///   itself), or at once past `transport_config::batch_bytes_max`. A peer
///   it has no address for loses the message: Raft retries.
/// - `(raft_batch_atom, batch)`: a peer's batch (transport_codec.hpp); each
///   message goes to the local replica of its group, as `(raft_msg_atom,
///   bytes)`. A malformed batch, or a group with no replica here, is
///   dropped.
/// - `(raft_member_atom, group, replica)`: the store manager names the local
///   replica of `group` (an invalid handle: none any more).
/// - `(raft_peer_atom, uint64 id, transport)`: the store manager names the
///   transport of the node with Raft id `id` (an invalid handle: gone).
/// - `(raft_flush_atom)`: from itself.
using transport_actor = caf::typed_actor<
  caf::reacts_to<raft_msg_atom, std::string, uint64_t, std::string>,
  caf::reacts_to<raft_batch_atom, std::string>,
  caf::reacts_to<raft_member_atom, std::string, caf::actor>,
  caf::reacts_to<raft_peer_atom, uint64_t, caf::actor>,
  caf::reacts_to<raft_flush_atom>>;

/// How the transport runs.
struct transport_config {
  /// A batch for one peer leaves as soon as it holds this many bytes.
  size_t batch_bytes_max = 1u << 20;
  static constexpr size_t batch_bytes_max_default = 1u << 20;
};

/// Spawns a node's transport.
transport_actor spawn_transport(caf::actor_system& sys, transport_config cfg);

} // namespace cxesdb::actors::raft
