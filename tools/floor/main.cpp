// cxesdb-floor: what this machine can do at all with the node's durability:
// fdatasync latency and SQLite inserts in WAL mode with synchronous=FULL at
// 1, 100 and 1000 rows per transaction (docs/benchmarks.md).

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

#include <nlohmann/json.hpp>

#include "tools/bench/flags.hpp"
#include "tools/common/version.hpp"
#include "tools/floor/fsync_probe.hpp"
#include "tools/floor/sqlite_probe.hpp"

using namespace cxesdb::tools;

namespace {

constexpr const char* usage_text = R"(usage: cxesdb-floor [flags]

  --dir DIR          where the probe files go (default: a new directory
                     ./cxesdb-floor.XXXXXX in the current directory, removed
                     afterwards)
  --seconds S (3)    duration of each probe
  --block-bytes B (4096)  bytes written before each fdatasync
  --payload-bytes B (256) data bytes per SQLite row
  --batches LIST (1,100,1000)  rows per SQLite transaction
  --stream-run N (1)  consecutive rows written to one stream (1: every row
                     to a random stream of 1000; 100: runs of 100, as W2)
  --json             report as one JSON object

exit: 0 ok, 1 a probe failed, 2 usage
)";

double r3(double v) {
  return std::round(v * 1000.0) / 1000.0;
}

std::vector<uint64_t> parse_batches(const std::string& text) {
  std::vector<uint64_t> result;
  size_t start = 0;
  while (start < text.size()) {
    auto comma = text.find(',', start);
    auto item = text.substr(start, comma == std::string::npos
                                     ? std::string::npos
                                     : comma - start);
    char* end = nullptr;
    auto v = std::strtoull(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || v < 1 || v > 100000)
      throw usage_error("--batches wants numbers from 1 to 100000");
    result.push_back(v);
    if (comma == std::string::npos)
      break;
    start = comma + 1;
  }
  return result;
}

} // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  for (auto& a : args)
    if (a == "--version") {
      std::printf("%s\n",
                  cxesdb::tools::version_line("cxesdb-floor").c_str());
      return 0;
    }
  for (auto& a : args)
    if (a == "--help" || a == "-h") {
      std::fputs(usage_text, stdout);
      return 0;
    }
  std::string dir;
  bool made_dir = false;
  fsync_options fo;
  sqlite_options so;
  std::vector<uint64_t> batches;
  bool json = false;
  try {
    flags f(args, {"json"});
    dir = f.get("dir", "");
    fo.seconds = so.seconds = f.get_double("seconds", 3, 0.01, 3600);
    fo.block_bytes = static_cast<size_t>(
      f.get_int("block-bytes", 4096, 1, 64 << 20));
    so.payload_bytes = static_cast<size_t>(
      f.get_int("payload-bytes", 256, 8, 16 << 20));
    batches = parse_batches(f.get("batches", "1,100,1000"));
    so.stream_run = static_cast<uint64_t>(
      f.get_int("stream-run", 1, 1, 1000000));
    json = f.has("json");
    f.check_all_used();
  } catch (const usage_error& e) {
    std::fprintf(stderr, "cxesdb-floor: %s\n\n%s", e.what(), usage_text);
    return 2;
  }
  if (dir.empty()) {
    char tmpl[] = "./cxesdb-floor.XXXXXX";
    if (!::mkdtemp(tmpl)) {
      std::perror("cxesdb-floor: mkdtemp");
      return 1;
    }
    dir = tmpl;
    made_dir = true;
  }
  fo.dir = so.dir = dir;
  nlohmann::json j;
  j["dir"] = dir;
  j["filesystem"] = filesystem_of(dir);
  j["nproc"] = sysconf(_SC_NPROCESSORS_ONLN);
  int status = 0;
  try {
    j["fsync"] = nlohmann::json::array();
    for (bool overwrite : {false, true}) {
      auto r = probe_fsync(fo, overwrite);
      const auto& h = r.latency;
      j["fsync"].push_back({{"mode", r.mode},
                            {"block_bytes", fo.block_bytes},
                            {"writes", r.writes},
                            {"per_s", r3(r.writes / r.seconds)},
                            {"p50_ms", r3(ns_to_ms(h.quantile_ns(0.5)))},
                            {"p99_ms", r3(ns_to_ms(h.quantile_ns(0.99)))},
                            {"max_ms", r3(ns_to_ms(h.max_ns()))}});
    }
    j["sqlite"] = nlohmann::json::array();
    for (auto b : batches) {
      auto r = probe_sqlite(so, b);
      const auto& h = r.txn_latency;
      j["sqlite"].push_back(
        {{"rows_per_txn", b},
         {"stream_run", so.stream_run},
         {"payload_bytes", so.payload_bytes},
         {"transactions", r.transactions},
         {"rows_per_s", r3(r.rows / r.seconds)},
         {"txn_per_s", r3(r.transactions / r.seconds)},
         {"txn_p50_ms", r3(ns_to_ms(h.quantile_ns(0.5)))},
         {"txn_p99_ms", r3(ns_to_ms(h.quantile_ns(0.99)))},
         {"txn_max_ms", r3(ns_to_ms(h.max_ns()))}});
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cxesdb-floor: %s\n", e.what());
    status = 1;
  }
  if (made_dir)
    ::rmdir(dir.c_str());
  if (status != 0)
    return status;
  if (json) {
    std::printf("%s\n", j.dump().c_str());
    return 0;
  }
  std::printf("cxesdb-floor: %s (%s), %ld cores\n", dir.c_str(),
              j["filesystem"].get<std::string>().c_str(),
              static_cast<long>(j["nproc"].get<long>()));
  if (j["filesystem"] == "tmpfs" || j["filesystem"] == "ramfs")
    std::printf("  warning: a memory filesystem; fsync costs nothing here\n");
  std::printf("  fdatasync of %zu bytes   writes/s      p50 ms   p99 ms   "
              "max ms\n",
              fo.block_bytes);
  for (auto& f : j["fsync"])
    std::printf("    %-20s %10.0f  %8.3f %8.3f %8.3f\n",
                f["mode"].get<std::string>().c_str(),
                f["per_s"].get<double>(), f["p50_ms"].get<double>(),
                f["p99_ms"].get<double>(), f["max_ms"].get<double>());
  std::printf("  SQLite WAL, synchronous=FULL, %zu-byte rows, runs of %llu "
              "rows per stream\n",
              so.payload_bytes,
              static_cast<unsigned long long>(so.stream_run));
  std::printf("    rows/txn    rows/s     txn/s   txn p50 ms  txn p99 ms\n");
  for (auto& s : j["sqlite"])
    std::printf("    %8llu %9.0f %9.0f  %10.3f  %10.3f\n",
                static_cast<unsigned long long>(s["rows_per_txn"].get<uint64_t>()),
                s["rows_per_s"].get<double>(), s["txn_per_s"].get<double>(),
                s["txn_p50_ms"].get<double>(), s["txn_p99_ms"].get<double>());
  return 0;
}
