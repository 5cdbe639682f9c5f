// Commands survive the trip through a log entry's bytes.

#include <doctest/doctest.h>

#include "stores/codec.hpp"

using namespace cxesdb::stores;

TEST_CASE("commands round-trip through their encoding") {
  append_cmd a{"order-1",
               {expected_version::exact, 41},
               {{"00000000-0000-7000-8000-000000000001", "T", "{\"a\":1}",
                 "null", "application/json"},
                {"00000000-0000-7000-8000-000000000002", "U", "\"AAEC\"",
                 "{\"m\":[]}", "application/octet-stream"}},
               1764115199123456};
  auto back = decode(encode(a));
  REQUIRE(back);
  auto& a2 = std::get<append_cmd>(*back);
  CHECK(a2.stream == a.stream);
  CHECK(a2.expected.kind == expected_version::exact);
  CHECK(a2.expected.value == 41);
  CHECK(a2.created_epoch_us == a.created_epoch_us);
  REQUIRE(a2.events.size() == 2);
  CHECK(a2.events[1].data == "\"AAEC\"");
  CHECK(a2.events[1].content_type == "application/octet-stream");

  record_snapshot_cmd s{{"src", "st", 7, "null", "{}", "null", 9}};
  auto s2 = decode(encode(s));
  REQUIRE(s2);
  CHECK(std::get<record_snapshot_cmd>(*s2).snapshot.version == 7);

  delete_snapshot_cmd d{"src", "st", 7};
  auto d2 = decode(encode(d));
  REQUIRE(d2);
  CHECK(std::get<delete_snapshot_cmd>(*d2).stream_uuid == "st");
}

TEST_CASE("corrupt entries are refused, not misread") {
  auto bytes = encode(delete_snapshot_cmd{"src", "st", 7});
  CHECK_FALSE(decode(""));
  CHECK_FALSE(decode(bytes.substr(0, bytes.size() - 1)));
  CHECK_FALSE(decode(bytes + "x"));
  auto wrong_version = bytes;
  wrong_version[0] = 9;
  CHECK_FALSE(decode(wrong_version));
}

TEST_CASE("subscription commands round-trip through their encoding") {
  std::vector<command> cmds{
    save_subscription_cmd{"billing", "by_event_payload", "{\"a\":1}",
                          {start_from::position, 42}},
    checkpoint_cmd{"billing", 99},
    remove_subscription_cmd{"billing", "by_stream", "\"$all\""},
  };
  for (auto& cmd : cmds) {
    auto bytes = encode(cmd);
    auto back = decode(bytes);
    REQUIRE(back);
    CHECK(back->index() == cmd.index());
    CHECK(encode(*back) == bytes);
  }
  auto s = std::get<save_subscription_cmd>(*decode(encode(cmds[0])));
  CHECK(s.start.kind == start_from::position);
  CHECK(s.start.value == 42);
}
