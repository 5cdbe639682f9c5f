#include "tools/sim/simulator.hpp"

#include <algorithm>
#include <map>
#include <memory>
#include <queue>
#include <set>
#include <vector>

#include "actors/assert.hpp"
#include "actors/raft/core.hpp"
#include "actors/raft/describe.hpp"
#include "actors/raft/invariant_checker.hpp"
#include "actors/raft/storage.hpp"

namespace cxesdb::tools::sim {

namespace raft = cxesdb::actors::raft;

namespace {

/// splitmix64: small, fast and good enough to drive a simulation.
class prng {
public:
  explicit prng(uint64_t seed) : s_(seed) {
  }
  uint64_t next() {
    uint64_t z = (s_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  uint64_t below(uint64_t n) {
    return n == 0 ? 0 : next() % n;
  }
  bool chance(double p) {
    return static_cast<double>(next() >> 11) * (1.0 / 9007199254740992.0) < p;
  }

private:
  uint64_t s_;
};

constexpr uint64_t steps_per_tick = 10;
constexpr uint64_t max_delay_steps = 30;
constexpr uint64_t slow_delay_steps = 400;
constexpr uint64_t compact_every_entries = 40;
/// At most this many applied entries stay in the log behind a compaction.
constexpr uint64_t compact_behind_max = 20;
constexpr size_t max_nodes = 7;
constexpr size_t network_queue_max = 100000;

uint64_t mix_digest(uint64_t h, const raft::entry& e) {
  auto mix = [&h](uint64_t x) {
    for (int i = 0; i < 8; ++i) {
      h ^= (x >> (8 * i)) & 0xff;
      h *= 1099511628211ull;
    }
  };
  mix(e.index);
  mix(e.term);
  mix(static_cast<uint64_t>(e.type));
  for (unsigned char ch : e.data) {
    h ^= ch;
    h *= 1099511628211ull;
  }
  return h;
}

std::string encode_sm(uint64_t index, uint64_t digest) {
  return std::to_string(index) + ":" + std::to_string(digest);
}

void decode_sm(const std::string& s, uint64_t& index, uint64_t& digest) {
  auto colon = s.find(':');
  CXESDB_ASSERT(colon != std::string::npos);
  index = std::stoull(s.substr(0, colon));
  digest = std::stoull(s.substr(colon + 1));
}

struct in_flight {
  uint64_t due;
  uint64_t seq;
  raft::message msg;
};

struct later {
  bool operator()(const in_flight& x, const in_flight& y) const {
    return x.due != y.due ? x.due > y.due : x.seq > y.seq;
  }
};

struct sim_node {
  raft::node_id id = 0;
  raft::memory_storage disk;
  std::unique_ptr<raft::core> core;
  bool alive = false;
  uint64_t restart_at_tick = 0;
  uint64_t incarnation = 0;
  bool dirty = false;
  uint64_t sm_index = 0;
  uint64_t sm_digest = 0;
  /// The state machine's digest after each index applied since the
  /// snapshot, so that the log can be compacted behind the applied index.
  std::map<uint64_t, uint64_t> digests;
};

struct proposal {
  uint64_t index;
  uint64_t term;
  raft::node_id proposer;
  uint64_t proposer_incarnation;
  uint64_t tick;
};

class simulation {
public:
  simulation(const options& opts, std::ostream* trace)
    : opts_(opts), rng_(opts.seed * 0x2545f4914f6cdd1dull + 17), trace_(trace) {
  }

  result run();

private:
  void log(const std::string& line) {
    if (trace_)
      *trace_ << "t=" << tick_ << "." << (now_ % steps_per_tick) << " "
              << line << "\n";
  }
  bool failed() {
    if (!res_.ok)
      return true;
    if (!checker_.ok()) {
      fail(checker_.violation());
      return true;
    }
    return false;
  }
  void fail(const std::string& what) {
    if (res_.ok) {
      res_.ok = false;
      res_.failure = what;
      res_.failure_tick = tick_;
      res_.ticks = tick_;
      res_.elections = checker_.leader_terms();
      log("VIOLATION " + what);
    }
  }

  raft::config make_config(raft::node_id id) const {
    raft::config cfg;
    cfg.id = id;
    cfg.mutation = opts_.mutation;
    cfg.max_inflight_msgs = inflight_;
    cfg.max_entries_per_msg = entries_per_msg_;
    cfg.pre_vote = pre_vote_;
    cfg.check_quorum = check_quorum_;
    return cfg;
  }

  void start_core(sim_node& n) {
    raft::initial_state init;
    auto err = n.disk.load(init);
    CXESDB_ASSERT(!err);
    auto seed = opts_.seed * 1000003ull + n.id * 7919ull + n.incarnation;
    auto gen = std::make_shared<prng>(seed);
    n.core = std::make_unique<raft::core>(make_config(n.id), init,
                                          [gen] { return gen->next(); });
    n.alive = true;
    n.dirty = false;
    if (init.snap.meta.index > 0)
      decode_sm(init.snap.data, n.sm_index, n.sm_digest);
    else
      n.sm_index = 0, n.sm_digest = 0;
    n.digests.clear();
    CXESDB_ASSERT(n.sm_index == init.snap.meta.index);
  }

  sim_node& add_node(raft::node_id id, raft::initial_state init) {
    auto& n = nodes_[id];
    n.id = id;
    n.disk = raft::memory_storage{std::move(init)};
    start_core(n);
    checker_.on_restore(id, n.sm_index);
    return n;
  }

  void send(const raft::message& m) {
    ++res_.messages_sent;
    checker_.on_send(m);
    bool faulty = in_fault_phase();
    if (faulty && rng_.chance(drop_rate_)) {
      ++res_.messages_dropped;
      log("drop " + raft::describe(m));
      return;
    }
    if (net_.size() >= network_queue_max) {
      ++res_.messages_dropped;
      return;
    }
    auto copies = faulty && rng_.chance(0.02) ? 2 : 1;
    for (int k = 0; k < copies; ++k) {
      auto delay = 1 + rng_.below(max_delay_steps_);
      // Now and then a message is stuck for much longer than an election
      // timeout, so it arrives in a later term.
      if (faulty && rng_.chance(slow_rate_))
        delay += rng_.below(slow_delay_steps);
      net_.push(in_flight{now_ + delay, ++seq_, m});
    }
  }

  void apply(sim_node& n, const raft::entry& e) {
    n.sm_digest = mix_digest(n.sm_digest, e);
    n.sm_index = e.index;
    n.digests[e.index] = n.sm_digest;
    checker_.on_apply(n.id, e);
    checker_.on_state(n.id, n.sm_index, n.sm_digest);
    if (e.type == raft::entry_type::conf_change)
      if (auto cc = raft::decode_conf_change(e.data))
        if (cc->op == raft::conf_op::remove)
          removed_.insert(cc->node);
    auto it = pending_.find(e.index);
    if (it != pending_.end() && it->second.proposer == n.id
        && it->second.proposer_incarnation == n.incarnation) {
      if (it->second.term == e.term) {
        acked_.push_back(it->second);
        ++res_.acked;
        if (res_.first_commit_ticks == 0)
          res_.first_commit_ticks = tick_ - it->second.tick + 1;
        log("ack index=" + std::to_string(e.index));
      }
      pending_.erase(it);
    }
  }

  void process_ready(sim_node& n) {
    n.dirty = false;
    auto& c = *n.core;
    while (c.has_ready()) {
      auto rd = c.get_ready();
      n.disk.save(rd);
      if (trace_) {
        if (rd.hard)
          log(std::to_string(n.id) + " persist hs term="
              + std::to_string(rd.hard->term) + " vote="
              + std::to_string(rd.hard->vote) + " commit="
              + std::to_string(rd.hard->commit));
        if (!rd.entries.empty())
          log(std::to_string(n.id) + " persist entries "
              + raft::describe(rd.entries.front()) + " .. "
              + raft::describe(rd.entries.back()));
      }
      for (auto& m : rd.messages)
        send(m);
      if (rd.snap && rd.snap_install) {
        decode_sm(rd.snap->data, n.sm_index, n.sm_digest);
        CXESDB_ASSERT(n.sm_index == rd.snap->meta.index);
        n.digests.clear();
        ++res_.snapshots_installed;
        log(std::to_string(n.id) + " install snapshot "
            + std::to_string(n.sm_index));
        checker_.on_restore(n.id, n.sm_index);
        checker_.on_state(n.id, n.sm_index, n.sm_digest);
      }
      for (auto& e : rd.committed)
        apply(n, e);
      for (auto& rs : rd.reads) {
        // Linearizable: a read sees every write acknowledged before it
        // started.
        auto it = reads_.find(rs.request);
        if (it == reads_.end())
          continue;
        ++res_.reads;
        if (rs.index < it->second)
          fail("read " + std::to_string(rs.request) + " at index "
               + std::to_string(rs.index) + " misses the write acknowledged "
               + "at " + std::to_string(it->second));
        log(std::to_string(n.id) + " read " + std::to_string(rs.request)
            + " at " + std::to_string(rs.index));
        reads_.erase(it);
      }
      for (auto req : rd.failed_reads)
        reads_.erase(req);
      c.advance(rd);
      checker_.check(c);
      if (c.applied_index() >= c.snapshot_index() + compact_every_entries) {
        // As a store replica does: compact up to an index behind the
        // applied one (what its database made durable, less a tail kept for
        // slow followers), with the image as of that index.
        CXESDB_ASSERT(n.sm_index == c.applied_index());
        auto index = c.applied_index() - rng_.below(compact_behind_max + 1);
        auto d = n.digests.find(index);
        CXESDB_ASSERT(d != n.digests.end());
        c.compact(index, encode_sm(index, d->second));
        n.digests.erase(n.digests.begin(), std::next(d));
      }
    }
    checker_.check(c);
  }

  void after_input(sim_node& n) {
    ++res_.steps;
    checker_.check(*n.core);
    // Sometimes the shell is slow to persist: a crash then loses the state.
    if (in_fault_phase() && opts_.faults && rng_.chance(0.1))
      n.dirty = true;
    else
      process_ready(n);
  }

  void deliver(const raft::message& m) {
    auto it = nodes_.find(m.to);
    if (it == nodes_.end() || !it->second.alive
        || blocked_.count({m.from, m.to}) > 0) {
      ++res_.messages_dropped;
      log("lost " + raft::describe(m));
      return;
    }
    ++res_.messages_delivered;
    log("deliver " + raft::describe(m));
    auto& n = it->second;
    auto before = n.core->role();
    n.core->step(m);
    if (n.core->role() != before)
      log(std::to_string(n.id) + " becomes " + raft::to_string(n.core->role())
          + " term=" + std::to_string(n.core->term()));
    after_input(n);
  }

  bool in_fault_phase() const {
    return tick_ < opts_.fault_ticks;
  }

  raft::node_id find_leader() const {
    raft::node_id best = raft::no_node;
    uint64_t best_term = 0;
    for (auto& [id, n] : nodes_)
      if (n.alive && n.core->role() == raft::role::leader
          && n.core->term() >= best_term) {
        best = id;
        best_term = n.core->term();
      }
    return best;
  }

  void crash(sim_node& n) {
    log("crash " + std::to_string(n.id)
        + (n.dirty ? " (losing unpersisted state)" : ""));
    ++res_.crashes;
    n.core.reset();
    n.alive = false;
    n.restart_at_tick = tick_ + 5 + rng_.below(40);
  }

  void restart(sim_node& n) {
    ++n.incarnation;
    start_core(n);
    log("restart " + std::to_string(n.id) + " term="
        + std::to_string(n.core->term()) + " commit="
        + std::to_string(n.core->commit_index()) + " last="
        + std::to_string(n.core->last_index()));
    checker_.on_restore(n.id, n.sm_index);
    checker_.on_restart(*n.core);
    process_ready(n);
  }

  void client_propose() {
    if (!rng_.chance(opts_.propose_rate))
      return;
    // Clients mostly find the leader, sometimes ask anyone.
    auto target = find_leader();
    if (target == raft::no_node || rng_.chance(0.2)) {
      std::vector<raft::node_id> alive;
      for (auto& [id, n] : nodes_)
        if (n.alive)
          alive.push_back(id);
      if (alive.empty())
        return;
      target = alive[rng_.below(alive.size())];
    }
    auto& n = nodes_.at(target);
    auto cmd = "c" + std::to_string(++cmd_seq_);
    auto r = n.core->propose(cmd);
    ++res_.proposals;
    log("propose " + cmd + " to " + std::to_string(target) + ": "
        + raft::to_string(r.status)
        + (r.status == raft::propose_status::ok
             ? " at " + std::to_string(r.index) + "/" + std::to_string(r.term)
             : ""));
    if (r.status == raft::propose_status::ok)
      pending_[r.index] = proposal{r.index, r.term, target, n.incarnation,
                                   tick_};
    after_input(n);
  }

  void client_read() {
    auto lid = find_leader();
    if (lid == raft::no_node)
      return;
    auto& n = nodes_.at(lid);
    uint64_t acked_max = 0;
    for (auto& a : acked_)
      acked_max = std::max(acked_max, a.index);
    auto req = ++read_seq_;
    if (n.core->read_index(req)) {
      reads_[req] = acked_max;
      log("read " + std::to_string(req) + " at leader " + std::to_string(lid));
      after_input(n);
    }
  }

  void transfer_leadership() {
    auto lid = find_leader();
    if (lid == raft::no_node)
      return;
    auto& n = nodes_.at(lid);
    auto& voters = n.core->conf().voters;
    auto to = voters[rng_.below(voters.size())];
    bool ok = n.core->transfer_leader(to);
    log("transfer leadership " + std::to_string(lid) + " -> "
        + std::to_string(to) + (ok ? "" : " refused"));
    if (ok)
      ++res_.transfers;
    after_input(n);
  }

  void membership_change() {
    auto lid = find_leader();
    if (lid == raft::no_node)
      return;
    auto& l = nodes_.at(lid);
    auto& conf = l.core->conf();
    raft::conf_change cc;
    bool want = false;
    for (auto learner : conf.learners) {
      auto pr = l.core->progress_of(learner);
      // A learner votes only once it has caught up (thesis 4.2.1).
      if (pr && pr->match >= l.core->commit_index()) {
        cc = {raft::conf_op::add_voter, learner};
        want = true;
        break;
      }
    }
    auto members = conf.voters.size() + conf.learners.size();
    if (!want && members < 5 && nodes_.size() < max_nodes + 4
        && rng_.chance(0.5)) {
      auto id = next_id_++;
      cc = {raft::conf_op::add_learner, id};
      want = true;
      add_node(id, raft::initial_state{});
      log("new node " + std::to_string(id));
    } else if (!want && conf.voters.size() > 3) {
      auto victim = conf.voters[rng_.below(conf.voters.size())];
      if (victim != lid) {
        cc = {raft::conf_op::remove, victim};
        want = true;
      }
    }
    if (!want)
      return;
    auto r = l.core->propose_conf_change(cc);
    ++res_.conf_changes;
    raft::entry e;
    e.type = raft::entry_type::conf_change;
    e.data = raft::encode_conf_change(cc);
    log("propose " + raft::describe(e) + " to " + std::to_string(lid) + ": "
        + raft::to_string(r.status));
    after_input(l);
  }

  /// Shuts down nodes whose removal was applied (so committed), as an
  /// operator would; a removed node left running only disrupts
  /// (thesis 4.2.3).
  void retire_removed() {
    for (auto id : removed_) {
      auto it = nodes_.find(id);
      if (it == nodes_.end())
        continue;
      log("retire removed node " + std::to_string(id));
      checker_.forget(id);
      nodes_.erase(it);
    }
  }

  void change_partitions() {
    blocked_.clear();
    std::vector<raft::node_id> ids;
    for (auto& [id, n] : nodes_)
      ids.push_back(id);
    switch (rng_.below(4)) {
      case 0:
        log("heal");
        return;
      case 1: {
        auto x = ids[rng_.below(ids.size())];
        for (auto y : ids)
          if (y != x) {
            blocked_.insert({x, y});
            blocked_.insert({y, x});
          }
        log("isolate " + std::to_string(x));
        return;
      }
      case 2: {
        auto x = ids[rng_.below(ids.size())];
        auto y = ids[rng_.below(ids.size())];
        if (x != y)
          blocked_.insert({x, y});
        log("block " + std::to_string(x) + "->" + std::to_string(y)
            + " (asymmetric)");
        return;
      }
      default: {
        std::set<raft::node_id> side;
        for (auto id : ids)
          if (rng_.chance(0.5))
            side.insert(id);
        std::string text;
        for (auto x : ids)
          for (auto y : ids)
            if (side.count(x) != side.count(y))
              blocked_.insert({x, y});
        for (auto id : side)
          text += std::to_string(id) + " ";
        log("split {" + text + "} from the rest");
      }
    }
  }

  void faults() {
    if (!opts_.faults)
      return;
    if (opts_.partitions && rng_.chance(0.03))
      change_partitions();
    if (opts_.crashes && rng_.chance(crash_rate_)) {
      std::vector<raft::node_id> alive;
      for (auto& [id, n] : nodes_)
        if (n.alive)
          alive.push_back(id);
      if (!alive.empty())
        crash(nodes_.at(alive[rng_.below(alive.size())]));
    }
    if (opts_.membership && rng_.chance(0.02))
      membership_change();
    if (rng_.chance(0.005))
      transfer_leadership();
  }

  bool settled() {
    auto lid = find_leader();
    if (lid == raft::no_node)
      return false;
    auto& l = *nodes_.at(lid).core;
    auto ct = l.term_at(l.commit_index());
    if (!ct || *ct != l.term() || l.last_index() != l.commit_index())
      return false;
    for (auto& a : acked_)
      if (a.index > l.commit_index())
        return false;
    auto& conf = l.conf();
    for (auto* ids : {&conf.voters, &conf.learners})
      for (auto id : *ids) {
        auto it = nodes_.find(id);
        if (it == nodes_.end() || !it->second.alive)
          return false;
        if (it->second.sm_index != l.commit_index())
          return false;
      }
    return true;
  }

  options opts_;
  prng rng_;
  std::ostream* trace_;
  result res_;
  raft::invariant_checker checker_;
  std::map<raft::node_id, sim_node> nodes_;
  std::priority_queue<in_flight, std::vector<in_flight>, later> net_;
  std::set<std::pair<raft::node_id, raft::node_id>> blocked_;
  std::map<uint64_t, proposal> pending_;
  std::vector<proposal> acked_;
  std::set<raft::node_id> removed_;
  std::map<uint64_t, uint64_t> reads_;
  uint64_t read_seq_ = 0;
  uint64_t tick_ = 0;
  uint64_t now_ = 0;
  uint64_t seq_ = 0;
  uint64_t cmd_seq_ = 0;
  raft::node_id next_id_ = 1;
  double drop_rate_ = 0;
  double crash_rate_ = 0.01;
  double slow_rate_ = 0.01;
  uint64_t max_delay_steps_ = max_delay_steps;
  size_t inflight_ = 4;
  size_t entries_per_msg_ = 8;
  bool pre_vote_ = true;
  bool check_quorum_ = true;
};

result simulation::run() {
  auto n_nodes = opts_.nodes != 0 ? opts_.nodes : (rng_.chance(0.5) ? 3 : 5);
  CXESDB_ASSERT(n_nodes >= 1 && n_nodes <= max_nodes);
  drop_rate_ = !opts_.faults          ? 0.0
               : opts_.drop_rate >= 0 ? opts_.drop_rate
                                      : static_cast<double>(rng_.below(16))
                                          / 100.0;
  // Each seed also draws its own configuration, so that the features are
  // exercised on and off (pre-vote, check-quorum) and under different
  // pipelines, latencies and crash rates.
  pre_vote_ = !rng_.chance(0.25);
  check_quorum_ = !rng_.chance(0.25);
  inflight_ = 2 + rng_.below(7);
  entries_per_msg_ = 2 + rng_.below(15);
  if (opts_.entries_per_msg != 0)
    entries_per_msg_ = opts_.entries_per_msg;
  max_delay_steps_ = 5 + rng_.below(max_delay_steps + 20);
  slow_rate_ = 0.005 * static_cast<double>(rng_.below(7));
  crash_rate_ = opts_.faults ? 0.002 * static_cast<double>(1 + rng_.below(20))
                             : 0.0;
  // Bootstrap: every initial voter starts from the same snapshot at 1/1
  // holding the membership, so that joining nodes learn it the same way.
  raft::initial_state boot;
  boot.snap.meta.index = 1;
  boot.snap.meta.term = 1;
  for (size_t i = 1; i <= n_nodes; ++i)
    boot.snap.meta.conf.voters.push_back(i);
  boot.snap.data = encode_sm(1, 0);
  boot.hard.term = 1;
  boot.hard.commit = 1;
  for (size_t i = 1; i <= n_nodes; ++i)
    add_node(i, boot);
  next_id_ = n_nodes + 1;
  checker_.on_state(1, 1, 0);
  if (trace_)
    *trace_ << "seed " << opts_.seed << ": " << n_nodes
            << " voters, drop rate " << drop_rate_ << ", crash rate "
            << crash_rate_ << ", max delay " << max_delay_steps_
            << " steps, inflight " << inflight_ << ", entries/msg "
            << entries_per_msg_ << ", pre-vote " << pre_vote_
            << ", check-quorum " << check_quorum_ << "\n";
  auto end = opts_.fault_ticks + opts_.liveness_ticks;
  bool calm_started = false;
  for (tick_ = 0; tick_ < end; ++tick_) {
    if (!in_fault_phase() && !calm_started) {
      calm_started = true;
      blocked_.clear();
      log("faults stop: heal, restart every crashed node");
      for (auto& [id, n] : nodes_)
        if (!n.alive)
          restart(n);
    }
    for (uint64_t s = 0; s < steps_per_tick; ++s) {
      now_ = tick_ * steps_per_tick + s;
      while (!net_.empty() && net_.top().due <= now_) {
        auto m = net_.top().msg;
        net_.pop();
        deliver(m);
        if (failed())
          return res_;
      }
    }
    for (auto& [id, n] : nodes_) {
      if (!n.alive) {
        if (in_fault_phase() && tick_ >= n.restart_at_tick)
          restart(n);
        continue;
      }
      auto before = n.core->role();
      n.core->tick();
      if (n.core->role() != before)
        log(std::to_string(id) + " becomes " + raft::to_string(n.core->role())
            + " term=" + std::to_string(n.core->term()));
      after_input(n);
      if (failed())
        return res_;
    }
    retire_removed();
    if (in_fault_phase()) {
      client_propose();
      if (rng_.chance(0.1) && opts_.reads)
        client_read();
      faults();
    } else if (settled()) {
      break;
    }
    for (auto& [id, n] : nodes_)
      if (n.alive && n.dirty)
        process_ready(n);
    if (failed())
      return res_;
  }
  res_.ticks = tick_;
  res_.elections = checker_.leader_terms();
  if (tick_ >= end) {
    auto lid = find_leader();
    std::string why = lid == raft::no_node
                        ? "no leader"
                        : "leader " + std::to_string(lid) + " commit "
                            + std::to_string(
                              nodes_.at(lid).core->commit_index());
    fail("liveness: not settled " + std::to_string(opts_.liveness_ticks)
         + " ticks after faults stopped (" + why + ")");
    return res_;
  }
  for (auto& a : acked_)
    if (checker_.committed_term(a.index) != a.term)
      fail("acknowledged proposal at " + std::to_string(a.index) + "/"
           + std::to_string(a.term) + " is not the committed entry");
  failed();
  return res_;
}

} // namespace

result run(const options& opts, std::ostream* trace) {
  simulation s{opts, trace};
  return s.run();
}

} // namespace cxesdb::tools::sim
