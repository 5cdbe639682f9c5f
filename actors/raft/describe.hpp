#pragma once

#include <string>

#include "actors/raft/types.hpp"

namespace cxesdb::actors::raft {

/// Returns a one-line, stable text form of `m` for traces and golden files.
std::string describe(const message& m);

/// Returns "index/term" plus the type and payload of `e` when not empty.
std::string describe(const entry& e);

} // namespace cxesdb::actors::raft
