// A store's snapshot image: its database copied while it serves, and put in
// place of another replica's database. Real SQLite files in a temp dir.

#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "stores/catalog.hpp"
#include "stores/state_machine.hpp"
#include "stores/store_image.hpp"
#include "tests/temp_dir.hpp"

using namespace cxesdb::stores;
namespace fs = std::filesystem;

namespace {

using cxesdb::tests::temp_dir;


std::unique_ptr<store_files> open_replica(const std::string& dir) {
  std::filesystem::create_directories(dir);
  return store_files::open("orders", dir, 2);
}

/// Appends `n` events to stream `s` at the next Raft indexes.
void append(store_files& f, const std::string& s, int n, int first_id) {
  std::vector<command> cmds;
  for (int i = 0; i < n; ++i) {
    char id[40];
    std::snprintf(id, sizeof(id), "00000000-0000-7000-8000-%012d",
                  first_id + i);
    cmds.push_back(append_cmd{s,
                              {expected_version::any, -1},
                              {event_input{id, "Placed", "{\"n\":1}", "null",
                                           "application/json"}},
                              1000});
  }
  auto& m = f.writer();
  auto rs = m.apply_batch(m.applied_index() + 1, cmds);
  for (auto& r : rs)
    REQUIRE(r.code == result_code::ok);
}

int64_t version(store_files& f, const std::string& s) {
  auto r = f.readers[0]->open(f.db_path).run(stream_version_query{s});
  return r.version;
}

} // namespace

TEST_CASE("store image: a copy made while serving replaces a replica that "
          "is behind, readers included") {
  temp_dir t{"cxesdb-image"};
  auto leader = open_replica(t.path + "/a");
  auto follower = open_replica(t.path + "/b");
  append(*leader, "order-1", 50, 0);
  append(*follower, "order-1", 5, 0);
  auto image = t.path + "/b/snapshot-in.part";
  // The leader compacted at 40: its image holds at least that.
  REQUIRE(!make_store_image(*leader, 40, t.path + "/a/out.img"));
  std::filesystem::rename(t.path + "/a/out.img", image);
  REQUIRE(!install_store_image(*follower, 40, image));
  CHECK(follower->writer().applied_index() == 50);
  CHECK(version(*follower, "order-1") == 49);
  CHECK(!std::filesystem::exists(image));
  // The replica goes on from there, as the log replays after the image.
  append(*follower, "order-1", 1, 50);
  CHECK(version(*follower, "order-1") == 50);
  // And it survives a reopen.
  follower.reset();
  follower = open_replica(t.path + "/b");
  CHECK(follower->writer().applied_index() == 51);
}

TEST_CASE("store image: an image behind its snapshot is not made") {
  temp_dir t{"cxesdb-image"};
  auto leader = open_replica(t.path + "/a");
  append(*leader, "order-1", 3, 0);
  auto err = make_store_image(*leader, 10, t.path + "/a/out.img");
  REQUIRE(err.has_value());
  CHECK(err->find("behind") != std::string::npos);
}

TEST_CASE("store image: a bad or older image changes nothing") {
  temp_dir t{"cxesdb-image"};
  auto leader = open_replica(t.path + "/a");
  auto follower = open_replica(t.path + "/b");
  append(*leader, "order-1", 5, 0);
  append(*follower, "order-1", 9, 0);
  auto image = t.path + "/b/snapshot-in.part";
  {
    std::ofstream garbage{image};
    garbage << std::string(8192, 'x');
  }
  CHECK(install_store_image(*follower, 3, image).has_value());
  CHECK(follower->writer().applied_index() == 9);
  CHECK(version(*follower, "order-1") == 8);
  // A store database behind the snapshot it claims to be.
  REQUIRE(!make_store_image(*leader, 5, image));
  CHECK(install_store_image(*follower, 7, image).has_value());
  // An image older than what the replica holds is dropped.
  REQUIRE(!install_store_image(*follower, 5, image));
  CHECK(follower->writer().applied_index() == 9);
  CHECK(version(*follower, "order-1") == 8);
}

TEST_CASE("store files: a hibernating store holds no descriptor of its "
          "database, and its next jobs open what they need and see "
          "everything") {
  temp_dir t{"cxesdb-image"};
  auto dir = t.path + "/a";
  auto files = open_replica(dir);
  append(*files, "order-1", 20, 0);
  auto descriptors = [&] {
    size_t n = 0;
    for (auto& fd : fs::directory_iterator("/proc/self/fd")) {
      std::error_code ec;
      auto target = fs::read_symlink(fd.path(), ec).string();
      n += target.rfind(dir, 0) == 0 ? 1 : 0;
    }
    return n;
  };
  CHECK(descriptors() > 0);
  CHECK(files->connections_open() == 3);
  files->hibernate();
  CHECK(files->connections_open() == 0);
  CHECK(descriptors() == 0);
  // A read opens one read connection; a write, the write connection.
  CHECK(version(*files, "order-1") == 19);
  CHECK(files->connections_open() == 1);
  append(*files, "order-1", 1, 20);
  CHECK(files->connections_open() == 2);
  CHECK(version(*files, "order-1") == 20);
  CHECK(files->writer().applied_index() == 21);
}
