#include "tools/floor/fsync_probe.hpp"

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <stdexcept>
#include <sys/statfs.h>
#include <unistd.h>
#include <vector>

namespace cxesdb::tools {

namespace {

int64_t clock_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
           std::chrono::steady_clock::now().time_since_epoch())
    .count();
}

[[noreturn]] void fail(const std::string& what) {
  throw std::runtime_error(what + ": " + std::strerror(errno));
}

} // namespace

fsync_result probe_fsync(const fsync_options& o, bool overwrite) {
  fsync_result r;
  r.mode = overwrite ? "overwrite" : "append";
  auto path = o.dir + "/fsync-probe-" + r.mode;
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
                  0644);
  if (fd < 0)
    fail("open " + path);
  std::vector<char> block(o.block_bytes, 'f');
  // Overwrite mode first writes the region it will cycle over, durably.
  constexpr uint64_t overwrite_blocks = 1024;
  if (overwrite) {
    for (uint64_t i = 0; i < overwrite_blocks; ++i)
      if (::write(fd, block.data(), block.size())
          != static_cast<ssize_t>(block.size()))
        fail("write " + path);
    if (::fsync(fd) != 0)
      fail("fsync " + path);
  }
  auto start = clock_ns();
  auto end = start + static_cast<int64_t>(o.seconds * 1e9);
  for (uint64_t i = 0; i < o.writes_max; ++i) {
    auto t0 = clock_ns();
    if (t0 >= end && i > 0)
      break;
    ssize_t n;
    if (overwrite)
      n = ::pwrite(fd, block.data(), block.size(),
                   static_cast<off_t>((i % overwrite_blocks) * block.size()));
    else
      n = ::write(fd, block.data(), block.size());
    if (n != static_cast<ssize_t>(block.size()))
      fail("write " + path);
    if (::fdatasync(fd) != 0)
      fail("fdatasync " + path);
    r.latency.record(static_cast<uint64_t>(clock_ns() - t0));
    ++r.writes;
  }
  r.seconds = (clock_ns() - start) / 1e9;
  ::close(fd);
  ::unlink(path.c_str());
  return r;
}

std::string filesystem_of(const std::string& path) {
  struct statfs s {};
  if (::statfs(path.c_str(), &s) != 0)
    return "unknown";
  switch (static_cast<unsigned long>(s.f_type)) {
    case 0xEF53: return "ext4";
    case 0x01021994: return "tmpfs";
    case 0x58465342: return "xfs";
    case 0x9123683E: return "btrfs";
    case 0x794C7630: return "overlayfs";
    case 0x6969: return "nfs";
    case 0x2FC12FC1: return "zfs";
    case 0x65735546: return "fuse";
    case 0x858458F6: return "ramfs";
    default: break;
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), "0x%lx",
                static_cast<unsigned long>(s.f_type));
  return buf;
}

} // namespace cxesdb::tools
