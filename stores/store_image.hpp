#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace cxesdb::stores {

struct store_files;

/// A store's Raft snapshot is its database file: the state machine's tables
/// and its applied index in one SQLite file. These two functions make such
/// an image on a leader and put one in place on a follower. Both block on
/// disk: call them from IO jobs only.

/// Copies the store's database into `path` while the store serves (SQLite's
/// online backup in one read transaction, so the copy is consistent). The
/// copy's applied index is at least `index`: the store compacts its log
/// only up to what its database holds. An error text on failure.
std::optional<std::string> make_store_image(const store_files& files,
                                            uint64_t index,
                                            const std::string& path);

/// Replaces the store's database by the image at `path` (received whole and
/// synced), whose applied index must be at least `index`. The image is
/// checked first (SQLite's quick_check, its applied index); a bad image
/// changes nothing. The swap holds the store's write lock and every read
/// connection's lock, checkpoints and closes the old database and renames
/// the image over it; the connections open again on it when jobs need them
/// (store_files::writer, reader::open). An image older than what the store already
/// holds is dropped (the store is ahead; Raft replays nothing below its
/// applied index). An error text on failure.
std::optional<std::string> install_store_image(store_files& files,
                                               uint64_t index,
                                               const std::string& path);

} // namespace cxesdb::stores
