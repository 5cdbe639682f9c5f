#pragma once

#include "caf/type_id.hpp"

/// The CAF type-ID block of cxesdb: the atoms its actors speak. Message types
/// that cross the network get their IDs here as well (see the cluster work).
CAF_BEGIN_TYPE_ID_BLOCK(cxesdb, caf::first_custom_type_id)

  // supervision
  CAF_ADD_ATOM(cxesdb, cxesdb::actors, children_atom, "children")
  CAF_ADD_ATOM(cxesdb, cxesdb::actors, gave_up_atom, "gave_up")

  // stores
  CAF_ADD_ATOM(cxesdb, cxesdb::actors, write_atom, "write")
  CAF_ADD_ATOM(cxesdb, cxesdb::actors, read_atom, "read")
  CAF_ADD_ATOM(cxesdb, cxesdb::actors, done_atom, "done")
  CAF_ADD_ATOM(cxesdb, cxesdb::actors, create_atom, "create")
  CAF_ADD_ATOM(cxesdb, cxesdb::actors, remove_atom, "remove")
  CAF_ADD_ATOM(cxesdb, cxesdb::actors, list_atom, "list")
  CAF_ADD_ATOM(cxesdb, cxesdb::actors, ready_atom, "ready")
  CAF_ADD_ATOM(cxesdb, cxesdb::actors, opened_atom, "opened")
  CAF_ADD_ATOM(cxesdb, cxesdb::actors, closed_atom, "closed")
  CAF_ADD_ATOM(cxesdb, cxesdb::actors, loaded_atom, "loaded")
  CAF_ADD_ATOM(cxesdb, cxesdb::actors, removed_atom, "removed")
  CAF_ADD_ATOM(cxesdb, cxesdb::actors, wire_atom, "wire")
  CAF_ADD_ATOM(cxesdb, cxesdb::actors, appended_atom, "appended")

  // subscriptions
  CAF_ADD_ATOM(cxesdb, cxesdb::actors, event_atom, "event")
  CAF_ADD_ATOM(cxesdb, cxesdb::actors, credit_atom, "credit")
  CAF_ADD_ATOM(cxesdb, cxesdb::actors, ack_atom, "ack")
  CAF_ADD_ATOM(cxesdb, cxesdb::actors, dropped_atom, "dropped")
  CAF_ADD_ATOM(cxesdb, cxesdb::actors, activate_atom, "activate")
  CAF_ADD_ATOM(cxesdb, cxesdb::actors, info_atom, "info")

  // gateway
  CAF_ADD_ATOM(cxesdb, cxesdb::actors, rpc_atom, "rpc")
  CAF_ADD_ATOM(cxesdb, cxesdb::actors, reply_atom, "reply")
  CAF_ADD_ATOM(cxesdb, cxesdb::actors, forward_atom, "forward")
  CAF_ADD_ATOM(cxesdb, cxesdb::actors, call_atom, "call")
  CAF_ADD_ATOM(cxesdb, cxesdb::actors, deadline_atom, "deadline")

  // registry (membership, names, groups)
  CAF_ADD_ATOM(cxesdb, cxesdb::actors, members_atom, "members")
  CAF_ADD_ATOM(cxesdb, cxesdb::actors, member_up_atom, "member_up")
  CAF_ADD_ATOM(cxesdb, cxesdb::actors, member_down_atom, "member_dn")
  CAF_ADD_ATOM(cxesdb, cxesdb::actors, hello_atom, "hello")
  CAF_ADD_ATOM(cxesdb, cxesdb::actors, gossip_atom, "gossip")
  CAF_ADD_ATOM(cxesdb, cxesdb::actors, heartbeat_atom, "heartbeat")
  CAF_ADD_ATOM(cxesdb, cxesdb::actors, register_atom, "register")
  CAF_ADD_ATOM(cxesdb, cxesdb::actors, unregister_atom, "unregister")
  CAF_ADD_ATOM(cxesdb, cxesdb::actors, whereis_atom, "whereis")
  CAF_ADD_ATOM(cxesdb, cxesdb::actors, multicall_atom, "multicall")
  CAF_ADD_ATOM(cxesdb, cxesdb::actors, names_atom, "names")
  CAF_ADD_ATOM(cxesdb, cxesdb::actors, tick_atom, "tick")

  // cluster (replicated stores, catalog, routing)
  CAF_ADD_ATOM(cxesdb, cxesdb::actors, route_atom, "route")
  CAF_ADD_ATOM(cxesdb, cxesdb::actors, cluster_atom, "cluster")
  CAF_ADD_ATOM(cxesdb, cxesdb::actors, retire_atom, "retire")
  CAF_ADD_ATOM(cxesdb, cxesdb::actors, reconcile_atom, "reconcile")
  CAF_ADD_ATOM(cxesdb, cxesdb::actors, applied_atom, "applied")
  CAF_ADD_ATOM(cxesdb, cxesdb::actors, catalog_atom, "catalog")
  CAF_ADD_ATOM(cxesdb, cxesdb::actors, hibernate_atom, "hibernate")
  CAF_ADD_ATOM(cxesdb, cxesdb::actors, backup_atom, "backup")
  CAF_ADD_ATOM(cxesdb, cxesdb::actors, restore_atom, "restore")

CAF_END_TYPE_ID_BLOCK(cxesdb)
