// cxesdb-sim: runs seeded simulations of a Raft group and reports every
// seed that breaks an invariant or fails to make progress.
//
//   cxesdb-sim --seeds N [--start S]      runs seeds S..S+N-1
//   cxesdb-sim --seed X --trace           replays one seed with a trace
//
// Other flags: --nodes K, --ticks T (fault ticks), --liveness T,
// --drop R (0..1), --entries-per-msg K, --no-faults, --no-membership,
// --no-reads, --mutate NAME, --stop-at-first.

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>

#include <cstdio>

#include "tools/common/version.hpp"
#include "tools/sim/simulator.hpp"

namespace {

namespace sim = cxesdb::tools::sim;
namespace raft = cxesdb::actors::raft;

bool parse_mutation(const std::string& name, raft::mutation& out) {
  static const std::pair<const char*, raft::mutation> table[] = {
    {"none", raft::mutation::none},
    {"count_stale_votes", raft::mutation::count_stale_votes},
    {"commit_old_term", raft::mutation::commit_old_term},
    {"vote_without_log_check", raft::mutation::vote_without_log_check},
    {"commit_without_majority", raft::mutation::commit_without_majority},
    {"forget_vote", raft::mutation::forget_vote},
    {"forget_term", raft::mutation::forget_term},
    {"apply_uncommitted", raft::mutation::apply_uncommitted},
    {"commit_from_heartbeat", raft::mutation::commit_from_heartbeat},
    {"read_without_quorum", raft::mutation::read_without_quorum},
  };
  for (auto& [n, m] : table)
    if (name == n) {
      out = m;
      return true;
    }
  return false;
}

int usage() {
  std::cerr << "usage: cxesdb-sim [--seeds N] [--start S] [--seed X --trace]\n"
               "                  [--nodes K] [--ticks T] [--liveness T]\n"
               "                  [--drop R] [--entries-per-msg K] [--no-faults]\n"
               "                  [--no-membership] [--no-reads]\n"
               "                  [--mutate NAME] [--stop-at-first]\n";
  return 2;
}

} // namespace

int main(int argc, char** argv) {
  uint64_t seeds = 100;
  uint64_t start = 1;
  bool trace = false;
  bool stop_at_first = false;
  sim::options base;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--version") {
      std::printf("%s\n", cxesdb::tools::version_line("cxesdb-sim").c_str());
      return 0;
    }
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::exit(usage());
      }
      return argv[++i];
    };
    if (a == "--seeds") {
      seeds = std::stoull(next());
    } else if (a == "--start") {
      start = std::stoull(next());
    } else if (a == "--seed") {
      start = std::stoull(next());
      seeds = 1;
    } else if (a == "--trace") {
      trace = true;
    } else if (a == "--nodes") {
      base.nodes = std::stoull(next());
    } else if (a == "--ticks") {
      base.fault_ticks = std::stoull(next());
    } else if (a == "--liveness") {
      base.liveness_ticks = std::stoull(next());
    } else if (a == "--drop") {
      base.drop_rate = std::stod(next());
    } else if (a == "--entries-per-msg") {
      base.entries_per_msg = std::stoull(next());
    } else if (a == "--no-faults") {
      base.faults = false;
    } else if (a == "--no-reads") {
      base.reads = false;
    } else if (a == "--no-membership") {
      base.membership = false;
    } else if (a == "--stop-at-first") {
      stop_at_first = true;
    } else if (a == "--mutate") {
      if (!parse_mutation(next(), base.mutation))
        return usage();
    } else {
      return usage();
    }
  }
  if (base.nodes > 7)
    return usage();
  auto t0 = std::chrono::steady_clock::now();
  uint64_t failures = 0;
  uint64_t first_failure = 0;
  sim::result total;
  for (uint64_t s = start; s < start + seeds; ++s) {
    auto opts = base;
    opts.seed = s;
    auto r = sim::run(opts, trace ? &std::cout : nullptr);
    total.ticks += r.ticks;
    total.steps += r.steps;
    total.messages_sent += r.messages_sent;
    total.messages_delivered += r.messages_delivered;
    total.messages_dropped += r.messages_dropped;
    total.elections += r.elections;
    total.proposals += r.proposals;
    total.acked += r.acked;
    total.crashes += r.crashes;
    total.conf_changes += r.conf_changes;
    total.snapshots_installed += r.snapshots_installed;
    total.reads += r.reads;
    total.transfers += r.transfers;
    if (!r.ok) {
      if (failures == 0)
        first_failure = s;
      ++failures;
      std::cout << "seed " << s << " FAILED at tick " << r.failure_tick << ": "
                << r.failure << "\n";
      if (stop_at_first)
        break;
    }
  }
  auto secs = std::chrono::duration<double>(std::chrono::steady_clock::now()
                                            - t0)
                .count();
  std::cout << "summary: seeds " << start << ".." << start + seeds - 1 << ", "
            << failures << " failed";
  if (failures > 0)
    std::cout << " (first " << first_failure << ")";
  std::cout << "; ticks " << total.ticks << ", steps " << total.steps
            << ", messages " << total.messages_sent << " sent / "
            << total.messages_delivered << " delivered / "
            << total.messages_dropped << " dropped, elections "
            << total.elections << ", proposals " << total.proposals
            << " (acked " << total.acked << "), crashes " << total.crashes
            << ", membership changes " << total.conf_changes
            << ", snapshots installed " << total.snapshots_installed
            << ", reads " << total.reads << ", leader transfers "
            << total.transfers << "; "
            << secs << " s\n";
  return failures == 0 ? 0 : 1;
}
