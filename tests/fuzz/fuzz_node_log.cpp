// Fuzz target: the node log's reader (actors/raft/node_log.hpp): a segment
// file of hostile bytes must be cut (a torn tail) or refused (corruption),
// never crash the node and never be misread.
//
// An input is a mode byte and the segment bytes:
// - mode bit 0: before writing, give every record whose length fits its
//   right checksum, so that mutations reach the record decoder instead of
//   dying at the checksum;
// - mode bit 1: the next two bytes (little endian) pick where the bytes are
//   split into two segments (the older one must then be whole).
//
// The target writes the segment(s) into a fresh directory, opens a node log
// on it, and checks:
// - refused: an error text;
// - opened: the last segment is a prefix of what was written (a cut, never
//   a rewrite) and the cut is `torn_bytes`; every group with a record loads
//   without error, its entries contiguous after its snapshot; a second open
//   cuts nothing and loads the same states.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unistd.h>

#include "actors/raft/crc32c.hpp"
#include "actors/raft/node_log.hpp"
#include "tests/fuzz/fuzz_check.hpp"

using namespace cxesdb::actors::raft;
namespace fs = std::filesystem;

namespace {

constexpr size_t header_bytes = 8;

uint32_t get_u32(const std::string& s, size_t at) {
  uint32_t x = 0;
  for (int i = 0; i < 4; ++i)
    x |= static_cast<uint32_t>(static_cast<unsigned char>(s[at + i])) << (8 * i);
  return x;
}

void put_u32(std::string& s, size_t at, uint32_t x) {
  for (int i = 0; i < 4; ++i)
    s[at + i] = static_cast<char>((x >> (8 * i)) & 0xFFu);
}

/// A directory of this process's own, removed at exit; in memory when
/// /dev/shm is there (the target writes and syncs a file per input).
const std::string& scratch() {
  static std::string dir = [] {
    std::string base = fs::is_directory("/dev/shm") && access("/dev/shm", W_OK) == 0
                         ? "/dev/shm"
                         : fs::temp_directory_path().string();
    std::string tmpl = base + "/cxesdb-fuzz-node-log-XXXXXX";
    FUZZ_CHECK(mkdtemp(tmpl.data()) != nullptr);
    static std::string keep = tmpl;
    std::atexit([] {
      std::error_code ec;
      fs::remove_all(keep, ec);
    });
    return tmpl;
  }();
  return dir;
}

std::string segment_path(const std::string& dir, uint64_t seq) {
  char name[32];
  std::snprintf(name, sizeof(name), "%020llu.seg",
                static_cast<unsigned long long>(seq));
  return dir + "/" + name;
}

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out{path, std::ios::binary | std::ios::trunc};
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  FUZZ_CHECK(out.good());
}

std::string read_file(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  return std::string{std::istreambuf_iterator<char>{in},
                     std::istreambuf_iterator<char>{}};
}

/// Gives every record whose length fits the checksum of its payload.
void fix_checksums(std::string& seg) {
  size_t at = 0;
  while (seg.size() - at >= header_bytes) {
    auto len = get_u32(seg, at + 4);
    if (len > seg.size() - at - header_bytes)
      return;
    put_u32(seg, at, crc32c(seg.data() + at + header_bytes, len));
    at += header_bytes + len;
  }
}

/// The groups named by the records of a segment the log accepted (each
/// record: crc32c u32, length u32, payload = kind u8, group string (u64
/// length), ...).
void groups_of(const std::string& seg, std::set<std::string>& out) {
  size_t at = 0;
  while (seg.size() - at >= header_bytes) {
    auto len = get_u32(seg, at + 4);
    FUZZ_CHECK(len <= seg.size() - at - header_bytes);
    auto p = at + header_bytes;
    FUZZ_CHECK(len >= 9);
    uint64_t n = 0;
    for (int i = 0; i < 8; ++i)
      n |= static_cast<uint64_t>(static_cast<unsigned char>(seg[p + 1 + i]))
           << (8 * i);
    FUZZ_CHECK(n <= len - 9);
    out.insert(seg.substr(p + 9, n));
    at += header_bytes + len;
  }
  FUZZ_CHECK(at == seg.size());
}

bool same(const initial_state& x, const initial_state& y) {
  return x.hard == y.hard && x.snap.meta.index == y.snap.meta.index
         && x.snap.meta.term == y.snap.meta.term
         && x.snap.meta.conf == y.snap.meta.conf && x.snap.data == y.snap.data
         && x.entries == y.entries;
}

std::map<std::string, initial_state>
load_all(const std::shared_ptr<node_log>& log,
         const std::set<std::string>& groups) {
  std::map<std::string, initial_state> out;
  for (auto& g : groups) {
    node_log_storage storage{log, g};
    initial_state st;
    auto err = storage.load(st);
    FUZZ_CHECK(!err.has_value());
    for (size_t i = 0; i < st.entries.size(); ++i)
      FUZZ_CHECK(st.entries[i].index == st.snap.meta.index + 1 + i);
    out[g] = std::move(st);
  }
  return out;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1)
    return 0;
  uint8_t mode = data[0];
  std::string rest{reinterpret_cast<const char*>(data + 1), size - 1};
  std::string older;
  std::string last = rest;
  bool two = (mode & 2) != 0 && rest.size() >= 2;
  if (two) {
    size_t at = (static_cast<unsigned char>(rest[0])
                 | static_cast<unsigned char>(rest[1]) << 8)
                % (rest.size() - 1);
    older = rest.substr(2, at);
    last = rest.substr(2 + at);
  }
  if (mode & 1) {
    fix_checksums(older);
    fix_checksums(last);
  }
  auto dir = scratch() + "/log";
  std::error_code ec;
  fs::remove_all(dir, ec);
  fs::create_directories(dir);
  auto last_path = segment_path(dir, two ? 2 : 1);
  if (two)
    write_file(segment_path(dir, 1), older);
  write_file(last_path, last);

  node_log_config cfg;
  cfg.dir = dir;
  std::string err;
  std::shared_ptr<node_log> log = node_log::open(cfg, err);
  if (!log) {
    FUZZ_CHECK(!err.empty());
    return 0;
  }
  auto cut = read_file(last_path);
  FUZZ_CHECK(cut.size() <= last.size());
  FUZZ_CHECK(last.compare(0, cut.size(), cut) == 0);
  FUZZ_CHECK(log->figures().torn_bytes == last.size() - cut.size());
  std::set<std::string> groups;
  if (two)
    groups_of(older, groups);
  groups_of(cut, groups);
  auto states = load_all(log, groups);
  log.reset();

  log = node_log::open(cfg, err);
  FUZZ_CHECK(log != nullptr);
  FUZZ_CHECK(log->figures().torn_bytes == 0);
  auto again = load_all(log, groups);
  for (auto& [g, st] : states)
    FUZZ_CHECK(same(st, again[g]));
  return 0;
}
