// The node log: one write-ahead log for every Raft group of a node, on real
// files in a temp dir. What a restarted node finds: every saved entry, hard
// state and snapshot of every group; a torn tail cut, never misread; a
// damaged segment refused; the log's size bounded by its rolls.

#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <random>
#include <string>
#include <vector>

#include "actors/raft/crc32c.hpp"
#include "actors/raft/node_log.hpp"
#include "tests/temp_dir.hpp"

namespace r = cxesdb::actors::raft;
namespace fs = std::filesystem;

namespace {

using cxesdb::tests::temp_dir;


std::shared_ptr<r::node_log> open_log(const std::string& dir,
                                      uint64_t segment_bytes = 64u << 20) {
  r::node_log_config cfg;
  cfg.dir = dir;
  cfg.segment_bytes = segment_bytes;
  std::string err;
  auto log = r::node_log::open(cfg, err);
  REQUIRE_MESSAGE(log != nullptr, err);
  return std::shared_ptr<r::node_log>(log.release());
}

std::vector<r::entry> entries(uint64_t first, uint64_t last, uint64_t term,
                              const std::string& tag = "e") {
  std::vector<r::entry> out;
  for (auto i = first; i <= last; ++i)
    out.push_back({i, term, r::entry_type::normal, tag + std::to_string(i)});
  return out;
}

r::ready boot(std::vector<r::node_id> voters) {
  r::ready rd;
  rd.snap = r::snapshot{{1, 1, {voters, {}}}, ""};
  rd.snap_install = true;
  rd.hard = r::hard_state{1, r::no_node, 1};
  return rd;
}

r::ready with_entries(std::vector<r::entry> es,
                      std::optional<r::hard_state> hard = std::nullopt) {
  r::ready rd;
  rd.entries = std::move(es);
  rd.hard = hard;
  return rd;
}

r::ready compaction(uint64_t index, uint64_t term) {
  r::ready rd;
  rd.snap = r::snapshot{{index, term, {{1, 2, 3}, {}}}, ""};
  return rd;
}

void save(std::shared_ptr<r::node_log> log, const std::string& g,
          const r::ready& rd) {
  r::node_log_storage s{log, g};
  auto err = s.save(rd);
  REQUIRE_MESSAGE(!err, *err);
}

r::initial_state load(std::shared_ptr<r::node_log> log, const std::string& g) {
  r::node_log_storage s{log, g};
  r::initial_state st;
  auto err = s.load(st);
  REQUIRE_MESSAGE(!err, *err);
  return st;
}

std::string only_segment(const std::string& dir) {
  std::vector<std::string> segs;
  for (auto& f : fs::directory_iterator(dir))
    if (f.path().extension() == ".seg")
      segs.push_back(f.path().string());
  REQUIRE(segs.size() == 1);
  return segs.front();
}

} // namespace

TEST_CASE("crc32c: the standard check value") {
  CHECK(r::crc32c("123456789", 9) == 0xE3069283u);
  CHECK(r::crc32c("", 0) == 0u);
  // Continuing a checksum equals checksumming the whole.
  CHECK(r::crc32c("6789", 4, r::crc32c("12345", 5)) == 0xE3069283u);
}

TEST_CASE("node log: a group's hard state, snapshot and entries come back "
          "after a reopen, with conflicting entries replaced and compacted "
          "ones gone") {
  temp_dir t{"cxesdb-log"};
  {
    auto log = open_log(t.path);
    CHECK(load(log, "orders").snap.meta.index == 0); // a new member
    save(log, "orders", boot({1, 2, 3}));
    save(log, "orders", with_entries(entries(2, 10, 2), r::hard_state{2, 1, 9}));
    // A new leader's entries from 8 on replace the old ones.
    save(log, "orders", with_entries(entries(8, 12, 3, "x"),
                                     r::hard_state{3, 2, 11}));
    save(log, "orders", compaction(5, 2));
    save(log, "other", boot({1}));
    save(log, "other", with_entries(entries(2, 3, 1)));
  }
  auto log = open_log(t.path);
  auto st = load(log, "orders");
  CHECK(st.hard.term == 3);
  CHECK(st.hard.vote == 2);
  CHECK(st.hard.commit == 11);
  CHECK(st.snap.meta.index == 5);
  CHECK(st.snap.meta.conf.voters == std::vector<r::node_id>{1, 2, 3});
  REQUIRE(st.entries.size() == 7);
  CHECK(st.entries.front().index == 6);
  CHECK(st.entries[1].data == "e7");
  CHECK(st.entries[2].data == "x8");
  CHECK(st.entries.back().index == 12);
  CHECK(st.entries.back().term == 3);
  auto other = load(log, "other");
  CHECK(other.snap.meta.conf.voters == std::vector<r::node_id>{1});
  CHECK(other.entries.size() == 2);
  // An installed snapshot drops every entry before it and after it.
  save(log, "other", [] {
    auto rd = boot({1, 2});
    rd.snap->meta.index = 40;
    rd.snap->meta.term = 4;
    return rd;
  }());
  auto again = load(log, "other");
  CHECK(again.snap.meta.index == 40);
  CHECK(again.entries.empty());
}

TEST_CASE("node log: saves of many groups queued together share one write "
          "and one fdatasync") {
  temp_dir t{"cxesdb-log"};
  auto log = open_log(t.path);
  // The first save's callback holds the writer until 50 more are queued.
  std::promise<void> queued;
  auto gate = queued.get_future().share();
  std::promise<void> first_running;
  std::promise<void> first_done;
  log->submit("g0", std::make_shared<r::ready>(boot({1})),
              [gate, &first_running,
               &first_done](const std::optional<std::string>& err) {
                CHECK(!err);
                first_running.set_value();
                gate.wait();
                first_done.set_value();
              });
  first_running.get_future().wait();
  std::vector<std::promise<void>> done(50);
  for (int i = 0; i < 50; ++i)
    log->submit("g" + std::to_string(i + 1),
                std::make_shared<r::ready>(boot({1})),
                [&done, i](const std::optional<std::string>& err) {
                  CHECK(!err);
                  done[static_cast<size_t>(i)].set_value();
                });
  queued.set_value();
  first_done.get_future().wait();
  for (auto& d : done)
    d.get_future().wait();
  auto f = log->figures();
  CHECK(f.records == 51);
  CHECK(f.batches == 2);
  CHECK(f.groups == 51);
}

TEST_CASE("node log: a tail cut at any offset keeps every batch written "
          "whole before the cut and invents nothing") {
  temp_dir t{"cxesdb-log"};
  auto dir = t.path + "/log";
  std::vector<uint64_t> ends; // segment size after each batch
  {
    auto log = open_log(dir);
    save(log, "a", boot({1}));
    save(log, "b", boot({1}));
    ends.push_back(fs::file_size(only_segment(dir)));
    for (uint64_t i = 0; i < 20; ++i) {
      save(log, i % 2 ? "a" : "b",
           with_entries(entries(2 + i / 2, 2 + i / 2, 1, "v"),
                        r::hard_state{1, 1, 1 + i / 2}));
      ends.push_back(fs::file_size(only_segment(dir)));
    }
  }
  auto seg_name = fs::path{only_segment(dir)}.filename().string();
  std::mt19937_64 rng{20261207};
  for (int round = 0; round < 40; ++round) {
    auto copy = t.path + "/copy";
    fs::remove_all(copy);
    fs::copy(dir, copy);
    auto seg = copy + "/" + seg_name;
    auto cut = ends.front() + rng() % (ends.back() - ends.front() + 1);
    fs::resize_file(seg, cut);
    // Batches wholly before the cut.
    size_t whole = 0;
    while (whole + 1 < ends.size() && ends[whole + 1] <= cut)
      ++whole;
    auto log = open_log(copy);
    CHECK(log->figures().torn_bytes == cut - ends[whole]);
    auto a = load(log, "a");
    auto b = load(log, "b");
    // Batch k (1-based) wrote entry 2 + (k-1)/2 of b (k odd) or a (k even).
    CHECK(b.entries.size() == (whole + 1) / 2);
    CHECK(a.entries.size() == whole / 2);
    for (auto& e : a.entries)
      CHECK(e.data == "v" + std::to_string(e.index));
    // It goes on writing after the cut, and that survives a reopen too.
    save(log, "a", with_entries(entries(2 + whole / 2, 2 + whole / 2, 2, "n"),
                                r::hard_state{2, 1, 1}));
    log.reset();
    log = open_log(copy);
    CHECK(log->figures().torn_bytes == 0);
    CHECK(load(log, "a").entries.back().data
          == "n" + std::to_string(2 + whole / 2));
  }
  // Garbage after the last record is a torn tail too.
  {
    std::ofstream junk{dir + "/" + seg_name, std::ios::app | std::ios::binary};
    junk << std::string("\x07\x00\x00\x00\xff\xff", 6);
  }
  auto log = open_log(dir);
  CHECK(log->figures().torn_bytes == 6);
  CHECK(load(log, "a").entries.size() == 10);
}

TEST_CASE("node log: a damaged record followed by good ones, or a damaged "
          "older segment, is refused, not cut") {
  temp_dir t{"cxesdb-log"};
  auto dir = t.path + "/log";
  uint64_t middle = 0;
  {
    auto log = open_log(dir);
    save(log, "a", boot({1}));
    middle = fs::file_size(only_segment(dir)) + 20;
    save(log, "a", with_entries(entries(2, 5, 1)));
    save(log, "a", with_entries(entries(6, 9, 1)));
  }
  auto seg = only_segment(dir);
  {
    std::fstream f{seg, std::ios::in | std::ios::out | std::ios::binary};
    f.seekp(static_cast<std::streamoff>(middle));
    f.put('\x5a');
  }
  r::node_log_config cfg;
  cfg.dir = dir;
  std::string err;
  CHECK(r::node_log::open(cfg, err) == nullptr);
  CHECK(err.find("damaged") != std::string::npos);
  // A tail cut short in a segment that is not the last.
  fs::resize_file(seg, fs::file_size(seg) - 3);
  std::ofstream{dir + "/00000000000000000002.seg"};
  err.clear();
  CHECK(r::node_log::open(cfg, err) == nullptr);
  CHECK(err.find("not the last segment") != std::string::npos);
}

TEST_CASE("node log: full segments roll into a checkpoint; the log stays "
          "small, idle groups keep their entries, forgotten groups go") {
  temp_dir t{"cxesdb-log"};
  {
    auto log = open_log(t.path, 4096);
    save(log, "hot", boot({1}));
    save(log, "idle", boot({1}));
    save(log, "idle", with_entries(entries(2, 4, 1, "idle")));
    save(log, "gone", boot({1}));
    save(log, "gone", with_entries(entries(2, 3, 1)));
    std::string payload(200, 'p');
    for (uint64_t i = 2; i < 400; ++i) {
      save(log, "hot", with_entries({{i, 1, r::entry_type::normal, payload}},
                                    r::hard_state{1, 1, i}));
      if (i % 50 == 0)
        save(log, "hot", compaction(i - 10, 1));
      if (i == 100)
        log->forget("gone", [](const std::optional<std::string>&) {});
    }
    auto f = log->figures();
    CHECK(f.rolls > 5);
    CHECK(f.segments == 1);
    // Less than a segment plus the live entries (about 60 of 230 bytes).
    CHECK(f.bytes < 4096 + 60 * 260);
    CHECK(f.groups == 2);
  }
  auto log = open_log(t.path, 4096);
  auto hot = load(log, "hot");
  CHECK(hot.snap.meta.index == 340); // the compaction at 350
  CHECK(hot.entries.front().index == 341);
  CHECK(hot.entries.back().index == 399);
  CHECK(hot.hard.commit == 399);
  auto idle = load(log, "idle");
  REQUIRE(idle.entries.size() == 3);
  CHECK(idle.entries.front().data == "idle2");
  CHECK(load(log, "gone").snap.meta.index == 0);
  CHECK(load(log, "gone").entries.empty());
}

TEST_CASE("node log: a file named like a segment that is not one is refused "
          "with its name") {
  temp_dir t{"cxesdb-log"};
  auto dir = t.path + "/log";
  {
    auto log = open_log(dir);
    save(log, "a", boot({1}));
  }
  std::ofstream{dir + "/xxxxxxxxxxxxxxxxxxxx.seg"};
  r::node_log_config cfg;
  cfg.dir = dir;
  std::string err;
  CHECK(r::node_log::open(cfg, err) == nullptr);
  CHECK(err.find("xxxxxxxxxxxxxxxxxxxx.seg") != std::string::npos);
}
