// The request counts /metrics shows (gateway/request_metrics.hpp): a
// duration lands in the first bucket whose bound it does not exceed, buckets
// are cumulative and end at the count, every method and client-visible
// reason is listed.

#include <doctest/doctest.h>

#include <algorithm>

#include "gateway/request_metrics.hpp"

using namespace cxesdb::gateway;
using cxesdb::stores::errc;

namespace {

const http::request_figures::per_method&
figures_of(const http::request_figures& f, const std::string& m) {
  auto i = std::find_if(f.methods.begin(), f.methods.end(),
                        [&](auto& x) { return x.method == m; });
  REQUIRE(i != f.methods.end());
  return *i;
}

uint64_t errors_of(const http::request_figures& f, const std::string& r) {
  for (auto& e : f.errors)
    if (e.first == r)
      return e.second;
  FAIL("reason not listed: " << r);
  return 0;
}

} // namespace

TEST_CASE("request metrics: durations fall into cumulative buckets") {
  request_metrics m;
  m.observe(method::append_events, 0.0005); // on the first bound: in it
  m.observe(method::append_events, 0.0007);
  m.observe(method::append_events, 0.003);
  m.observe(method::append_events, 60); // above every bound: +Inf only
  m.observe(method::health, 0);
  auto f = m.figures();
  REQUIRE(f.bounds_s.size() == request_metrics::bounds_s.size());
  auto& a = figures_of(f, "append_events");
  CHECK(a.count == 4);
  CHECK(a.sum_s == doctest::Approx(60.0042));
  REQUIRE(a.at_or_below.size() == f.bounds_s.size());
  CHECK(a.at_or_below[0] == 1); // <= 0.0005
  CHECK(a.at_or_below[1] == 2); // <= 0.001
  CHECK(a.at_or_below[2] == 2); // <= 0.0025
  CHECK(a.at_or_below[3] == 3); // <= 0.005
  CHECK(a.at_or_below.back() == 3);
  CHECK(std::is_sorted(a.at_or_below.begin(), a.at_or_below.end()));
  CHECK(figures_of(f, "health").at_or_below[0] == 1);
  CHECK(figures_of(f, "get_events").count == 0);
  CHECK(f.methods.size() == method_count);
}

// The last methods of the protocol (backup_store, list_backups,
// restore_store) were once past the end of the metrics' array: observing
// them wrote beyond it (found by the ASan + UBSan run).
TEST_CASE("request metrics: every method has its own figures") {
  request_metrics m;
  for (size_t i = 0; i < method_count; ++i)
    for (size_t n = 0; n <= i; ++n)
      m.observe(static_cast<method>(i), 0.001);
  auto f = m.figures();
  REQUIRE(f.methods.size() == method_count);
  for (size_t i = 0; i < method_count; ++i) {
    auto name = method_name(static_cast<method>(i));
    CAPTURE(name);
    CHECK(figures_of(f, name).count == i + 1);
  }
  CHECK(figures_of(f, "restore_store").count == method_count);
}

TEST_CASE("request metrics: errors by reason, every client-visible reason") {
  request_metrics m;
  m.count_error(errc::not_found);
  m.count_error(errc::not_found);
  m.count_error(errc::wrong_expected_version);
  auto f = m.figures();
  CHECK(errors_of(f, "not_found") == 2);
  CHECK(errors_of(f, "wrong_expected_version") == 1);
  CHECK(errors_of(f, "stream_deleted") == 0);
  CHECK(errors_of(f, "parse_error") == 0);
  // not_leader never reaches a client (routers retry it).
  for (auto& e : f.errors)
    CHECK(e.first != "not_leader");
}
