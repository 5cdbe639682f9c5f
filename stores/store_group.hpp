#pragma once

#include <cstddef>
#include <memory>

#include "caf/fwd.hpp"

namespace cxesdb::actors {
class executor;
} // namespace cxesdb::actors

namespace cxesdb::stores {

struct store_files;
struct subscription_limits;

/// The bounds of one store's actors.
struct store_group_limits {
  /// Commands waiting for the next transaction; beyond it appends are
  /// answered `overloaded`.
  size_t write_queue_max = 10000;

  /// Most commands in one transaction (one fsync).
  size_t batch_commands_max = 1000;

  /// Reads waiting for a free connection; beyond it reads are answered
  /// `overloaded`.
  size_t read_queue_max = 10000;
};

/// Spawns the actors of one store under a one-for-all supervisor and returns
/// the supervisor: a writer, which applies commands in group-committed
/// transactions, a reader, which serves queries from the store's read
/// connections, and the subscription hub. SQLite runs only in jobs on `exec`.
///
/// `observer` receives the supervisor's `(children_atom, [writer, reader,
/// hub])`
/// after each (re)start and `(gave_up_atom)` when it stops restarting.
///
/// The writer answers `(write_atom, command) -> command_result`, the reader
/// `(read_atom, query) -> query_result`; both answer `overloaded` when their
/// queue is full.
caf::actor spawn_store_group(caf::actor_system& sys,
                             std::shared_ptr<store_files> files,
                             actors::executor& exec, store_group_limits limits,
                             subscription_limits sub_limits,
                             caf::actor observer);

/// The writer alone, for tests.
caf::actor spawn_store_writer(caf::actor_system& sys,
                              std::shared_ptr<store_files> files,
                              actors::executor& exec,
                              store_group_limits limits);

/// The reader alone, for tests.
caf::actor spawn_store_reader(caf::actor_system& sys,
                              std::shared_ptr<store_files> files,
                              actors::executor& exec,
                              store_group_limits limits);

} // namespace cxesdb::stores
