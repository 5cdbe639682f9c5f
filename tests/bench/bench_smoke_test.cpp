// Smoke test of the benchmark tools (docs/benchmarks.md): cxesdb-bench
// drives a real node for two seconds and reports valid JSON without
// transport errors; cxesdb-floor runs its probes for a moment. This checks
// that the tools work, not how fast anything is. Also checks the
// generator's own building blocks (histogram, response scan, event ids).

#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <sys/wait.h>

#include <nlohmann/json.hpp>

#include "tests/integration/node_process.hpp"
#include "tools/bench/event_ids.hpp"
#include "tools/bench/histogram.hpp"
#include "tools/bench/response_scan.hpp"

using namespace cxesdb;
using nlohmann::json;

namespace {

/// Output and exit status of a shell command.
struct command_result {
  std::string out;
  int status = -1;
};

command_result run(const std::string& cmd) {
  command_result r;
  auto* p = ::popen(cmd.c_str(), "r");
  REQUIRE_MESSAGE(p != nullptr, "popen failed: " << cmd);
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0)
    r.out.append(buf, n);
  int st = ::pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  return r;
}

std::string env_or_fail(const char* name) {
  auto v = std::getenv(name);
  REQUIRE_MESSAGE(v != nullptr, name << " is not set");
  return v;
}

} // namespace

TEST_CASE("histogram quantiles are within one bucket of the truth") {
  tools::histogram h;
  for (uint64_t v = 1; v <= 100000; ++v)
    h.record(v * 1000); // 1 us .. 100 ms
  CHECK(h.count() == 100000);
  auto p50 = static_cast<double>(h.quantile_ns(0.5));
  auto p99 = static_cast<double>(h.quantile_ns(0.99));
  CHECK(p50 == doctest::Approx(50000000.0).epsilon(0.01));
  CHECK(p99 == doctest::Approx(99000000.0).epsilon(0.01));
  CHECK(h.quantile_ns(1.0) == 100000000);
  CHECK(h.max_ns() == 100000000);
  for (uint64_t v : {0ull, 1ull, 127ull, 128ull, 1000ull, 123456789ull,
                     ~0ull}) {
    auto i = tools::histogram::index_of(v);
    CHECK(i < tools::histogram::bucket_count);
    CHECK(tools::histogram::highest_of(i) >= v);
  }
}

TEST_CASE("response scan finds id, error reason and versions") {
  auto ok = tools::scan_response(
    R"({"id":42,"jsonrpc":"2.0","result":{"position":7,"version":3}})", true);
  CHECK(ok.has_id);
  CHECK(ok.id == 42);
  CHECK_FALSE(ok.is_error);
  CHECK(ok.has_version);
  CHECK(ok.version == 3);
  auto err = tools::scan_response(
    R"({"error":{"code":-32003,"data":{"current_version":9,)"
    R"("expected_version":2,"reason":"wrong_expected_version"},)"
    R"("message":"x \"quoted\" }"},"id":7,"jsonrpc":"2.0"})",
    false);
  CHECK(err.has_id);
  CHECK(err.id == 7);
  CHECK(err.is_error);
  CHECK(err.reason == "wrong_expected_version");
  CHECK(err.has_current_version);
  CHECK(err.current_version == 9);
  auto note = tools::scan_response(
    R"({"jsonrpc":"2.0","method":"event","params":{"event":{}}})", false);
  CHECK(note.is_notification);
  CHECK_FALSE(note.has_id);
  CHECK(tools::scan_response("[1,2]", false).malformed);
}

TEST_CASE("event ids carry the run tag and the sequence number") {
  tools::event_ids ids(0x0123456789abcdefull);
  std::string text;
  ids.append(text, 0x0fedcba987654321ull);
  CHECK(text.size() == 36);
  CHECK(text[14] == '4');
  CHECK(text[19] == '8');
  CHECK(ids.seq_of(text) == 0x0fedcba987654321ull);
  tools::event_ids other(42);
  CHECK_FALSE(other.seq_of(text).has_value());
}

TEST_CASE("cxesdb-bench append drives a node and reports JSON") {
  auto bench = env_or_fail("CXESDB_BENCH");
  tests::node_process node;
  auto cmd = bench + " append --port " + std::to_string(node.port())
             + " --duration 2 --warmup 0.5 --clients 4 --json --quiet"
             + " --node-pid " + std::to_string(node.pid());
  auto r = run(cmd);
  INFO("command: " << cmd);
  INFO("output: " << r.out);
  INFO("node log: " << node.log_tail());
  CHECK(r.status == 0);
  auto j = json::parse(r.out, nullptr, false);
  REQUIRE_FALSE(j.is_discarded());
  for (auto key : {"events_per_s", "requests_per_s", "p50_ms", "p90_ms",
                   "p99_ms", "p999_ms", "max_ms", "errors",
                   "errors_by_reason", "transport_errors",
                   "bench_cpu_percent", "node_cpu_percent"})
    CHECK_MESSAGE(j.contains(key), "missing " << key);
  CHECK(j["transport_errors"] == 0);
  CHECK(j["events_per_s"].get<double>() > 0);
  CHECK(j["p99_ms"].get<double>() >= j["p50_ms"].get<double>());

  SUBCASE("exact expected versions stay in step") {
    auto exact = bench + " append --port " + std::to_string(node.port())
                 + " --duration 1 --warmup 0 --clients 2 --streams 4"
                 + " --batch 3 --expected exact --json --quiet";
    auto e = run(exact);
    INFO("exact output: " << e.out);
    CHECK(e.status == 0);
    auto ej = json::parse(e.out, nullptr, false);
    REQUIRE_FALSE(ej.is_discarded());
    CHECK(ej["errors"] == 0);
    CHECK(ej["events"].get<uint64_t>() > 0);
  }
}

TEST_CASE("cxesdb-bench rejects bad flags with status 2") {
  auto bench = env_or_fail("CXESDB_BENCH");
  CHECK(run(bench + " append --clients 0 2>/dev/null").status == 2);
  CHECK(run(bench + " frobnicate 2>/dev/null").status == 2);
  CHECK(run(bench + " append --no-such-flag 1 2>/dev/null").status == 2);
}

TEST_CASE("cxesdb-bench reports a node that is not there with status 1") {
  auto bench = env_or_fail("CXESDB_BENCH");
  // Port 1 on loopback refuses connections.
  auto r = run(bench + " health --port 1 --duration 0.2 --warmup 0 --json"
               + " --quiet 2>/dev/null");
  CHECK(r.status == 1);
}

TEST_CASE("cxesdb-floor measures fdatasync and SQLite") {
  auto floor = env_or_fail("CXESDB_FLOOR");
  auto r = run(floor + " --seconds 0.05 --batches 1,10 --json");
  INFO("output: " << r.out);
  CHECK(r.status == 0);
  auto j = json::parse(r.out, nullptr, false);
  REQUIRE_FALSE(j.is_discarded());
  CHECK(j.contains("filesystem"));
  REQUIRE(j["fsync"].size() == 2);
  CHECK(j["fsync"][0]["writes"].get<uint64_t>() > 0);
  REQUIRE(j["sqlite"].size() == 2);
  CHECK(j["sqlite"][1]["rows_per_txn"] == 10);
  CHECK(j["sqlite"][1]["rows_per_s"].get<double>() > 0);
}
