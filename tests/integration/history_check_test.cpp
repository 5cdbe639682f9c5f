// Unit tests of the history checker (history_check.hpp): it must accept a
// sound history and name each broken promise of protocol.md sections 4 and
// 6 that a cluster test relies on it to find.

#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include "tests/integration/history_check.hpp"

using namespace cxesdb::tests;

namespace {

/// Three batches: a (2 events) and b (1) to stream s, c (1) to stream t,
/// written in that order at positions 0..3, all acknowledged.
std::vector<sent_append> three_batches() {
  return {{"s", {"a1", "a2"}, true, 1, 1},
          {"t", {"c1"}, true, 0, 2},
          {"s", {"b1"}, true, 2, 3}};
}

std::vector<replica_row> good_rows() {
  return {{0, "s", 0, "a1"}, {1, "s", 1, "a2"}, {2, "t", 0, "c1"},
          {3, "s", 2, "b1"}};
}

replica_state replica(std::string name, std::vector<replica_row> rows,
                      bool may_lag = false) {
  return {std::move(name), std::move(rows), may_lag};
}

/// True when the report has a problem containing `text`.
bool mentions(const check_report& report, const std::string& text) {
  return report.message().find(text) != std::string::npos;
}

} // namespace

TEST_CASE("identical replicas holding every acknowledged event pass") {
  auto r = check_history(three_batches(),
                         {replica("node1", good_rows()),
                          replica("node2", good_rows()),
                          replica("node3", good_rows())});
  CHECK_MESSAGE(r.ok(), r.message());
  CHECK(r.message() == "ok");
}

TEST_CASE("a missing acknowledged event is reported with its batch") {
  auto rows = good_rows();
  rows.pop_back(); // b1
  auto r = check_history(three_batches(),
                         {replica("node1", rows), replica("node2", rows)});
  REQUIRE_FALSE(r.ok());
  CHECK(mentions(r, "node1: acknowledged event b1 is missing"));
  CHECK(mentions(r, "version 2, position 3"));
}

TEST_CASE("an event twice in a stream is reported") {
  auto rows = good_rows();
  rows.push_back({4, "s", 3, "a1"});
  auto r = check_history(three_batches(), {replica("node1", rows)});
  CHECK(mentions(r, "event id a1 is twice in stream 's', at positions 0 and 4"));
}

TEST_CASE("gaps in positions and in event numbers are reported") {
  auto rows = good_rows();
  rows[3].position = 5;
  auto r = check_history(three_batches(), {replica("node1", rows)});
  CHECK(mentions(r, "positions not gapless: #2 t/0 c1 is followed by #5"));
  rows = good_rows();
  rows[3].event_number = 3;
  r = check_history({}, {replica("node1", rows)},
                    check_options{0, false, 20});
  CHECK(mentions(r, "stream 's': event number 3 at #3 s/3 b1, expected 2"));
  rows = good_rows();
  for (auto& row : rows)
    row.position += 10;
  r = check_history(three_batches(), {replica("node1", rows)});
  CHECK(mentions(r, "expected position 0"));
  check_options from_first;
  from_first.first_position = std::nullopt;
  from_first.only_sent_events = false;
  r = check_history({}, {replica("node1", rows)}, from_first);
  CHECK_MESSAGE(r.ok(), r.message());
}

TEST_CASE("replicas that disagree on the order are reported") {
  std::vector<sent_append> sent{{"s", {"x"}, true, 0, 0},
                                {"t", {"y"}, true, 0, 1}};
  std::vector<replica_row> one{{0, "s", 0, "x"}, {1, "t", 0, "y"}};
  std::vector<replica_row> two{{0, "t", 0, "y"}, {1, "s", 0, "x"}};
  auto r = check_history(sent, {replica("node1", one), replica("node2", two)});
  REQUIRE_FALSE(r.ok());
  CHECK(mentions(r, "differs from"));
  CHECK(mentions(r, "the first difference is row 0"));
}

TEST_CASE("a shorter replica passes only when it may lag") {
  auto rows = good_rows();
  auto prefix = rows;
  prefix.resize(2);
  // Batch b (and c) may be missing from the lagging replica.
  auto r = check_history(three_batches(),
                         {replica("node1", rows), replica("node2", rows),
                          replica("node3", prefix, true)});
  CHECK_MESSAGE(r.ok(), r.message());
  r = check_history(three_batches(),
                    {replica("node1", rows), replica("node3", prefix)});
  REQUIRE_FALSE(r.ok());
  CHECK(mentions(r, "node3 differs from node1: node3 has 2 rows, node1 has 4"));
  CHECK(mentions(r, "node3: acknowledged event c1 is missing"));
  // Lagging, but not a prefix: it holds something the others do not.
  auto other = prefix;
  other[1].event_id = "zz";
  r = check_history(three_batches(),
                    {replica("node1", rows), replica("node3", other, true)});
  CHECK(mentions(r, "node3 (may lag) is not a prefix of node1"));
}

TEST_CASE("a batch with an unknown outcome is all or nothing") {
  auto sent = three_batches();
  sent.push_back({"s", {"u1", "u2"}, false, -1, -1});
  // Absent: fine.
  auto r = check_history(sent, {replica("node1", good_rows())});
  CHECK_MESSAGE(r.ok(), r.message());
  // Present whole: fine.
  auto rows = good_rows();
  rows.push_back({4, "s", 3, "u1"});
  rows.push_back({5, "s", 4, "u2"});
  r = check_history(sent, {replica("node1", rows)});
  CHECK_MESSAGE(r.ok(), r.message());
  // Half present: reported.
  rows.pop_back();
  r = check_history(sent, {replica("node1", rows)});
  CHECK(mentions(r, "only 1 of 2 events are present, u2 is missing"));
}

TEST_CASE("the acknowledged version and position must match the replica") {
  auto sent = three_batches();
  sent[2].version = 7;
  auto r = check_history(sent, {replica("node1", good_rows())});
  CHECK(mentions(r, "the batch's last event is #3 s/2 b1"));
  // A batch whose events are split up or reordered.
  sent = three_batches();
  sent[0].event_ids = {"a2", "a1"};
  r = check_history(sent, {replica("node1", good_rows())});
  CHECK(mentions(r, "not consecutive in the order sent"));
}

TEST_CASE("an event nobody sent is reported unless allowed") {
  auto rows = good_rows();
  rows.push_back({4, "q", 0, "stranger"});
  auto r = check_history(three_batches(), {replica("node1", rows)});
  CHECK(mentions(r, "#4 q/0 stranger was not sent by any client"));
  check_options lenient;
  lenient.only_sent_events = false;
  r = check_history(three_batches(), {replica("node1", rows)}, lenient);
  CHECK_MESSAGE(r.ok(), r.message());
}

TEST_CASE("no replica at all is a problem, and the list is capped") {
  CHECK_FALSE(check_history({}, {}).ok());
  std::vector<replica_row> rows;
  for (int i = 0; i < 50; ++i)
    rows.push_back({i, "s" + std::to_string(i), 1, "e"});
  check_options few;
  few.problems_max = 3;
  few.only_sent_events = false;
  auto r = check_history({}, {replica("node1", rows)}, few);
  CHECK(r.problems.size() == 3);
  CHECK(r.problems_dropped == 47);
  CHECK(mentions(r, "50 problem(s)"));
  CHECK(mentions(r, "... and 47 more"));
}
