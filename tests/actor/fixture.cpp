#include "tests/actor/fixture.hpp"

#include <cstdlib>
#include <filesystem>
#include <stdexcept>

#include <doctest/doctest.h>

#include "caf/send.hpp"

namespace cxesdb::tests {

void actor_fixture::settle(actors::manual_executor& io) {
  for (int i = 0; i < 100000; ++i) {
    auto msgs = sched.run();
    auto jobs = io.run_all();
    if (msgs == 0 && jobs == 0)
      return;
  }
  FAIL("settle does not converge");
}

void actor_fixture::tick(actors::manual_executor& io, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    sched.advance_time(std::chrono::milliseconds{tick_ms});
    settle(io);
  }
}

stores::replica_config actor_fixture::single_voter(const std::string& group) {
  stores::replica_config r;
  r.node = 1;
  r.group = group;
  r.initial_voters = {1};
  r.tick_interval_ms = tick_ms;
  return r;
}

actors::raft::group_status actor_fixture::status(const caf::actor& writer) {
  caf::scoped_actor probe{sys};
  probe->send(writer, actors::raft::group_status_atom::value);
  sched.run();
  actors::raft::group_status out;
  bool got = false;
  probe->receive([&](actors::raft::group_status& gs) {
    out = gs;
    got = true;
  },
  caf::after(std::chrono::seconds(0)) >> [] {});
  REQUIRE(got);
  return out;
}

} // namespace cxesdb::tests
