// Golden interaction tests: each file in testdata/ is a script of commands,
// each followed by "----" and the output it must produce (up to a blank
// line). Set CXESDB_GOLDEN_REWRITE=1 to rewrite the expected outputs after
// a deliberate change, then review the diff.

#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tests/raft/interaction.hpp"

namespace {

struct step {
  std::vector<std::string> preamble; // comments and blank lines before
  std::string command;
  std::string expected;
};

std::vector<step> parse(const std::string& path) {
  std::ifstream in{path};
  REQUIRE_MESSAGE(in.good(), "cannot open " << path);
  std::vector<step> steps;
  std::vector<std::string> pre;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') {
      pre.push_back(line);
      continue;
    }
    step s;
    s.preamble.swap(pre);
    s.command = line;
    REQUIRE(std::getline(in, line));
    REQUIRE_MESSAGE(line == "----", "expected ---- after " << s.command);
    std::string out;
    while (std::getline(in, line) && !line.empty()) {
      if (!out.empty())
        out += "\n";
      out += line;
    }
    s.expected = out;
    steps.push_back(std::move(s));
    pre.push_back("");
  }
  // Trailing blank lines are not kept.
  return steps;
}

void run_file(const std::string& name) {
  const char* dir = std::getenv("RAFT_TESTDATA");
  REQUIRE(dir != nullptr);
  auto path = std::string{dir} + "/" + name;
  auto steps = parse(path);
  REQUIRE(!steps.empty());
  bool rewrite = std::getenv("CXESDB_GOLDEN_REWRITE") != nullptr;
  cxesdb::tests::raft::interaction env;
  std::ostringstream rewritten;
  for (auto& s : steps) {
    auto got = env.run(s.command);
    for (auto& p : s.preamble)
      rewritten << p << "\n";
    rewritten << s.command << "\n----\n" << got << (got.empty() ? "" : "\n");
    if (!rewrite) {
      INFO(name << ": " << s.command);
      CHECK(got == s.expected);
    }
  }
  CHECK(env.checker().ok());
  if (rewrite) {
    std::ofstream out{path};
    out << rewritten.str();
  }
}

} // namespace

TEST_CASE("golden: election") {
  run_file("election.txt");
}

TEST_CASE("golden: pre-vote with check-quorum") {
  run_file("prevote_checkquorum.txt");
}

TEST_CASE("golden: figure 8") {
  run_file("figure8.txt");
}

TEST_CASE("golden: leader transfer") {
  run_file("transfer.txt");
}

TEST_CASE("golden: conflicting follower log") {
  run_file("conflict.txt");
}

TEST_CASE("golden: snapshot install") {
  run_file("snapshot.txt");
}

TEST_CASE("golden: membership change") {
  run_file("membership.txt");
}

TEST_CASE("golden: read index") {
  run_file("read_index.txt");
}
