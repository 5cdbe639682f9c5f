// cxesdb-inspect against a replica written by the real state machine: the
// summary and the event listing a developer reads in a post-mortem, while
// the writer still has the file open (the rows are in its WAL), and the
// exit codes of a missing replica and of a usage error.
//
// The tool's path comes from meson: CXESDB_INSPECT.

#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <sys/wait.h>

#include "stores/state_machine.hpp"

using namespace cxesdb::stores;
namespace fs = std::filesystem;

namespace {

struct run_result {
  int status = -1;
  std::string out;
};

/// Runs cxesdb-inspect with `args` (already shell-quoted) and collects its
/// stdout; stderr is merged into it.
run_result inspect(const std::string& args) {
  auto tool = std::getenv("CXESDB_INSPECT");
  REQUIRE_MESSAGE(tool != nullptr, "CXESDB_INSPECT is not set (run by meson)");
  auto cmd = std::string{tool} + " " + args + " 2>&1";
  auto pipe = ::popen(cmd.c_str(), "r");
  REQUIRE(pipe != nullptr);
  run_result r;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), pipe)) > 0)
    r.out.append(buf, n);
  auto st = ::pclose(pipe);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

event_input ev(const std::string& id, const std::string& type) {
  return event_input{id, type, "{}", "null", "application/json"};
}

struct temp_dir {
  fs::path path;
  temp_dir() {
    std::string templ = (fs::temp_directory_path() / "cxesdb-inspect-XXXXXX");
    REQUIRE(::mkdtemp(templ.data()) != nullptr);
    path = templ;
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

} // namespace

TEST_CASE("inspect prints a replica's summary and events read-only") {
  temp_dir dir;
  fs::create_directories(dir.path / "orders");
  auto db_path = (dir.path / "orders" / "store.db").string();
  auto db = open_store_db(db_path);
  state_machine sm{*db};
  auto id = [](int i) {
    return "00000000-0000-7000-8000-00000000000" + std::to_string(i);
  };
  sm.apply_batch(1, {append_cmd{"order-1",
                                {expected_version::no_stream, -1},
                                {ev(id(1), "Placed"), ev(id(2), "Paid")},
                                1000},
                     append_cmd{"order-2",
                                {expected_version::any, -1},
                                {ev(id(3), "Placed")},
                                1000}});
  auto data_dir = dir.path.string();

  auto r = inspect(data_dir + " orders");
  CHECK(r.status == 0);
  INFO(r.out);
  CHECK(r.out.find("events          3\n") != std::string::npos);
  CHECK(r.out.find("last position   2\n") != std::string::npos);
  CHECK(r.out.find("applied index   2\n") != std::string::npos);
  CHECK(r.out.find("streams         2\n") != std::string::npos);
  CHECK(r.out.find("order-1\t1\norder-2\t0\n") != std::string::npos);
  CHECK(inspect(data_dir + " orders --summary").out == r.out);

  r = inspect(data_dir + " orders --events");
  CHECK(r.status == 0);
  CHECK(r.out
        == "position\tstream\tnumber\tevent_id\tevent_type\n"
           "0\torder-1\t0\t" + id(1) + "\tPlaced\n"
           "1\torder-1\t1\t" + id(2) + "\tPaid\n"
           "2\torder-2\t0\t" + id(3) + "\tPlaced\n"
           "(3 events)\n");

  // The tool wrote nothing: the writer still appends where it left off.
  auto res = sm.apply_batch(3, {append_cmd{"order-2",
                                           {expected_version::exact, 0},
                                           {ev(id(4), "Paid")},
                                           1000}});
  CHECK(res.at(0).position == 3);
}

TEST_CASE("inspect reports a missing replica and usage errors") {
  temp_dir dir;
  auto r = inspect(dir.path.string() + " nope");
  CHECK(r.status == 1);
  CHECK(r.out.find("no replica of 'nope'") != std::string::npos);
  CHECK(inspect(dir.path.string()).status == 64);
  CHECK(inspect(dir.path.string() + " s --events --summary").status == 64);
  CHECK(inspect(dir.path.string() + " s --frob").status == 64);
  CHECK(inspect(dir.path.string() + " a/b").status == 64);
  r = inspect("--help");
  CHECK(r.status == 0);
  CHECK(r.out.find("usage: cxesdb-inspect") != std::string::npos);
}
