#include <doctest/doctest.h>

#include "stores/bootstrap.hpp"

using namespace cxesdb::stores;
using action = bootstrap_action;

namespace {

const std::vector<std::string> three{"127.0.0.1:7003", "127.0.0.1:7001",
                                     "127.0.0.1:7002"};

bootstrap_input fresh(const std::string& self,
                      std::vector<std::string> seeds = three) {
  bootstrap_input in;
  in.seeds = std::move(seeds);
  in.self_address = self;
  return in;
}

} // namespace

TEST_CASE("bootstrap: the founding seed sorts first by host, then by port as "
          "a number; blanks, empty entries and repeats do not count") {
  CHECK(founding_seed(three) == "127.0.0.1:7001");
  // By number: 9000 before 10000, although "10000" < "9000" as text.
  CHECK(founding_seed({"h:10000", "h:9000"}) == "h:9000");
  CHECK(founding_seed({"b:1", "a:2"}) == "a:2");
  CHECK(normalize_seeds({" h:2", "", "h:1 ", "h:2"})
        == std::vector<std::string>{"h:1", "h:2"});
  CHECK(founding_seed({}).empty());
  CHECK(founding_seed({" ", ""}).empty());
  // The order of the list never matters: every node computes the same one.
  CHECK(founding_seed({"127.0.0.1:7002", "127.0.0.1:7001", "127.0.0.1:7003"})
        == founding_seed({"127.0.0.1:7003", "127.0.0.1:7002",
                          "127.0.0.1:7001"}));
}

TEST_CASE("bootstrap: the quorum is a majority of the distinct seeds") {
  CHECK(seed_quorum({"a:1"}) == 1);
  CHECK(seed_quorum({"a:1", "a:2"}) == 2);
  CHECK(seed_quorum(three) == 2);
  CHECK(seed_quorum({"a:1", "a:2", "a:3", "a:4"}) == 3);
  CHECK(seed_quorum({"a:1", "a:2", "a:3", "a:4", "a:5"}) == 3);
  CHECK(seed_quorum({"a:1", "a:1", "a:2", "a:3"}) == 2);
}

TEST_CASE("bootstrap: no seeds founds a cluster of one, with or without "
          "data") {
  auto in = fresh("127.0.0.1:7001", {});
  CHECK(decide_bootstrap(in).action == action::found);
  in.has_catalog = true;
  CHECK(decide_bootstrap(in).action == action::found);
}

TEST_CASE("bootstrap: a node with catalog data never founds again") {
  auto in = fresh("127.0.0.1:7001");
  in.has_catalog = true;
  in.answers = {{"127.0.0.1:7002", {}}, {"127.0.0.1:7003", {}}};
  CHECK(decide_bootstrap(in).action == action::join);
}

TEST_CASE("bootstrap: a node not among its seeds joins them at once") {
  auto in = fresh("127.0.0.1:7000"); // sorts before every seed
  CHECK(decide_bootstrap(in).action == action::join);
}

TEST_CASE("bootstrap: every seed but the founding one joins at once") {
  CHECK(decide_bootstrap(fresh("127.0.0.1:7002")).action == action::join);
  CHECK(decide_bootstrap(fresh("127.0.0.1:7003")).action == action::join);
  // Blanks in the list do not make it another node.
  auto in = fresh("127.0.0.1:7002", {" 127.0.0.1:7001", "127.0.0.1:7002 "});
  CHECK(decide_bootstrap(in).action == action::join);
}

TEST_CASE("bootstrap: the founding seed waits for a quorum of seeds, then "
          "founds") {
  auto in = fresh("127.0.0.1:7001");
  auto d = decide_bootstrap(in);
  CHECK(d.action == action::wait);
  CHECK(d.reason.find("1 of 2") != std::string::npos);
  // An answer from a node that is not a seed does not count.
  in.answers = {{"127.0.0.1:7999", {}}};
  CHECK(decide_bootstrap(in).action == action::wait);
  // Its own address among the answers does not count twice.
  in.answers = {{"127.0.0.1:7001", {}}};
  CHECK(decide_bootstrap(in).action == action::wait);
  in.answers = {{"127.0.0.1:7003", {}}};
  CHECK(decide_bootstrap(in).action == action::found);
  in.answers = {{"127.0.0.1:7003", {}}, {"127.0.0.1:7002", {}}};
  CHECK(decide_bootstrap(in).action == action::found);
  // Alone in its list it founds at once.
  CHECK(decide_bootstrap(fresh("127.0.0.1:7001", {"127.0.0.1:7001"})).action
        == action::found);
  // Two seeds: both must answer.
  auto two = fresh("127.0.0.1:7001", {"127.0.0.1:7001", "127.0.0.1:7002"});
  CHECK(decide_bootstrap(two).action == action::wait);
  two.answers = {{"127.0.0.1:7002", {}}};
  CHECK(decide_bootstrap(two).action == action::found);
}

TEST_CASE("bootstrap: the founding seed joins a cluster one seed is in "
          "already") {
  auto in = fresh("127.0.0.1:7001");
  in.answers = {{"127.0.0.1:7002", {"node2", "node3"}}};
  CHECK(decide_bootstrap(in).action == action::join);
  // Even when a quorum answered.
  in.answers.push_back({"127.0.0.1:7003", {}});
  CHECK(decide_bootstrap(in).action == action::join);
  // A member that is not a seed counts too: it is in the seeds' cluster.
  in.answers = {{"127.0.0.1:7999", {"node9"}}};
  CHECK(decide_bootstrap(in).action == action::join);
}

TEST_CASE("bootstrap: in every order of answers, exactly the founding seed "
          "founds") {
  // Three fresh nodes with one identical list: whatever each has heard,
  // no node but the founding seed ever decides to found.
  std::vector<seed_answer> all{{"127.0.0.1:7001", {}},
                               {"127.0.0.1:7002", {}},
                               {"127.0.0.1:7003", {}}};
  for (auto& self : three)
    for (unsigned mask = 0; mask < 8; ++mask) {
      auto in = fresh(self);
      for (unsigned i = 0; i < 3; ++i)
        if (mask & (1u << i))
          in.answers.push_back(all[i]);
      auto d = decide_bootstrap(in);
      CAPTURE(self);
      CAPTURE(mask);
      if (self != "127.0.0.1:7001")
        CHECK(d.action == action::join);
      else
        CHECK(d.action != action::join);
    }
}

TEST_CASE("bootstrap: actions have names for the log") {
  CHECK(std::string{to_string(action::found)} == "found");
  CHECK(std::string{to_string(action::join)} == "join");
  CHECK(std::string{to_string(action::wait)} == "wait");
}
