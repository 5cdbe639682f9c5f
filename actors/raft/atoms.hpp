#pragma once

#include "caf/atom.hpp"

namespace cxesdb::actors::raft {

/// The atoms of the Raft layer, declared once: the consensus actor's
/// interface (consensus_actor.hpp) and the node's transport between nodes
/// (transport.hpp).
using raft_msg_atom = caf::atom_constant<caf::atom("raft_msg")>;
using propose_atom = caf::atom_constant<caf::atom("propose")>;
using read_index_atom = caf::atom_constant<caf::atom("read_idx")>;
using status_atom = caf::atom_constant<caf::atom("status")>;
using peers_atom = caf::atom_constant<caf::atom("peers")>;
using raft_tick_atom = caf::atom_constant<caf::atom("raft_tick")>;
using persisted_atom = caf::atom_constant<caf::atom("persisted")>;
using loaded_atom = caf::atom_constant<caf::atom("loaded")>;
using group_status_atom = caf::atom_constant<caf::atom("grp_status")>;
using conf_atom = caf::atom_constant<caf::atom("conf")>;
using transfer_atom = caf::atom_constant<caf::atom("transfer")>;
using compact_atom = caf::atom_constant<caf::atom("compact")>;
using image_made_atom = caf::atom_constant<caf::atom("img_made")>;
using image_read_atom = caf::atom_constant<caf::atom("img_read")>;
using image_wrote_atom = caf::atom_constant<caf::atom("img_wrote")>;

// The transport (transport.hpp).
using raft_batch_atom = caf::atom_constant<caf::atom("raft_batch")>;
using raft_flush_atom = caf::atom_constant<caf::atom("raft_flush")>;
using raft_member_atom = caf::atom_constant<caf::atom("raft_membr")>;
using raft_peer_atom = caf::atom_constant<caf::atom("raft_peer")>;

} // namespace cxesdb::actors::raft
