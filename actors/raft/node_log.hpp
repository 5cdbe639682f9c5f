#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "actors/raft/storage.hpp"
#include "actors/raft/types.hpp"

namespace cxesdb::actors::raft {

/// How the node log stores and bounds itself.
struct node_log_config {
  /// Directory of the segment files (`<data-dir>/_log`).
  std::string dir;
  /// A segment that grew past this many bytes is closed after the batch
  /// that filled it: the next one starts with a checkpoint of every group's
  /// live state, and every older segment is deleted. The log's disk use
  /// stays within about this much plus the groups' live state.
  uint64_t segment_bytes = 64u << 20;
  static constexpr uint64_t segment_bytes_default = 64u << 20;
  /// Longest record a segment may hold; a longer length is corruption.
  uint64_t record_bytes_max = 1u << 30;
};

/// Figures of a node log (tests, benchmarks, metrics).
struct node_log_figures {
  uint64_t segments = 0;    ///< segment files on disk
  uint64_t bytes = 0;       ///< their total size
  uint64_t groups = 0;      ///< groups with state in the log
  uint64_t batches = 0;     ///< writes, each followed by one fdatasync
  uint64_t records = 0;     ///< records written (one per group save)
  uint64_t rolls = 0;       ///< segments closed and checkpointed
  uint64_t torn_bytes = 0;  ///< bytes cut from the last segment at open
};

/// One write-ahead log for every Raft group of a node, as RabbitMQ's Ra
/// keeps one WAL for all its clusters: each group's saves (hard state,
/// entries, snapshot metadata of one ready batch) become one record in the
/// same sequence of segment files, and one writer thread writes what every
/// group queued meanwhile with one `fdatasync`: a node with many active
/// groups pays one sync per batch, not one per group.
///
/// A record is `crc32c(u32) length(u32) payload`; the checksum covers the
/// payload. At open, the segments are read in order; a record that is cut
/// short or fails its checksum ends the last segment (a crash during a
/// write), which is truncated there, so a torn tail is found and cut, never
/// misread. The same in an older segment, or a bad record followed by a
/// good one (a damaged disk, not a torn write), is corruption: open fails
/// rather than drop acknowledged entries.
///
/// Compaction: a group's snapshot record makes its older entries dead.
/// When the current segment is full, the next one starts with a checkpoint
/// record per group (its hard state, snapshot and live entries, read back
/// from the older segments), after which the older segments are deleted: the
/// log's size does not grow with history, whatever idle groups do.
///
/// `submit`, `load` and `forget` queue work for the writer thread and
/// return at once; their callbacks run on that thread and must not block
/// (they send an actor message). A group's work is done in the order it was
/// queued, so a load after a save sees it.
class node_log {
public:
  using done_fn = std::function<void(const std::optional<std::string>& error)>;
  using load_fn = std::function<void(initial_state state,
                                     const std::optional<std::string>& error)>;

  /// Opens (creating) `cfg.dir`, reads every segment, cuts a torn tail, and
  /// starts the writer thread; nullptr and `err` on failure.
  static std::unique_ptr<node_log> open(node_log_config cfg, std::string& err);

  /// Writes what is queued, then stops the writer thread.
  ~node_log();

  node_log(const node_log&) = delete;
  node_log& operator=(const node_log&) = delete;

  /// Persists the durable part of `rd` (snapshot, entries, hard state) for
  /// `group`, atomically; `done` runs once it is on disk, or with an error.
  void submit(const std::string& group, std::shared_ptr<const ready> rd,
              done_fn done);

  /// Hands `group`'s state (empty when the log has none) to `done`, after
  /// every save queued before.
  void load(const std::string& group, load_fn done);

  /// Drops `group` (a replica removed from this node); `done` once durable.
  void forget(const std::string& group, done_fn done);

  node_log_figures figures() const;

  /// Blocks until the work queued before the call is done (tests, tools).
  void flush();

private:
  struct op;
  struct location;
  struct group_meta;

  explicit node_log(node_log_config cfg);

  std::optional<std::string> read_all();
  void run();
  void process(std::vector<op>& batch);
  std::optional<std::string> write_and_sync(const std::string& buf);
  std::optional<std::string> replay(const group_meta& g, initial_state& out);
  void roll();
  std::string segment_path(uint64_t seq) const;
  void enqueue(op o);

  node_log_config cfg_;
  mutable std::mutex mtx_;
  std::condition_variable cv_;
  std::vector<op> queue_;
  bool stop_ = false;
  std::thread writer_;

  // Writer thread only (and open, before it starts).
  std::map<std::string, group_meta> groups_;
  uint64_t seq_ = 0;       ///< the current segment
  int fd_ = -1;            ///< its descriptor
  uint64_t size_ = 0;      ///< its size
  uint64_t old_bytes_ = 0; ///< size of the older segments
  std::vector<uint64_t> old_seqs_;
  std::optional<std::string> failed_;
  node_log_figures figures_; ///< under mtx_
};

/// The `storage` of one group in a node log, for code that persists
/// synchronously (tools, tests): each call waits for the writer thread.
class node_log_storage : public storage {
public:
  node_log_storage(std::shared_ptr<node_log> log, std::string group)
    : log_(std::move(log)), group_(std::move(group)) {
  }

  std::optional<std::string> load(initial_state& out) override;
  std::optional<std::string> save(const ready& rd) override;

private:
  std::shared_ptr<node_log> log_;
  std::string group_;
};

} // namespace cxesdb::actors::raft
