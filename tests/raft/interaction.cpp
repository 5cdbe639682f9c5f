#include "tests/raft/interaction.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "actors/assert.hpp"
#include "actors/raft/describe.hpp"

namespace cxesdb::tests::raft {

namespace {

std::vector<std::string> split(const std::string& line) {
  std::vector<std::string> out;
  std::istringstream in{line};
  std::string w;
  while (in >> w)
    out.push_back(w);
  return out;
}

uint64_t mix(uint64_t h, const r::entry& e) {
  for (unsigned char ch : std::to_string(e.index) + "/"
                            + std::to_string(e.term) + e.data) {
    h ^= ch;
    h *= 1099511628211ull;
  }
  return h;
}

std::string join(const std::vector<std::string>& lines) {
  std::string out;
  for (auto& l : lines) {
    if (!out.empty())
      out += "\n";
    out += l;
  }
  return out;
}

void fail_test(const std::string& what) {
  std::fprintf(stderr, "interaction: %s\n", what.c_str());
  std::abort();
}

} // namespace

void interaction::start(r::node_id id, node& n) {
  r::initial_state init;
  n.disk.load(init);
  auto cfg = tmpl;
  cfg.id = id;
  auto state = std::make_shared<uint64_t>(seed_ * 7919 + id);
  n.core = std::make_unique<r::core>(cfg, init, [state] {
    // A fixed LCG: golden files depend on these numbers.
    *state = *state * 6364136223846793005ull + 1442695040888963407ull;
    return *state >> 33;
  });
  n.sm_index = init.snap.meta.index;
  n.sm_digest = 0;
  n.applied.clear();
  checker_.on_restore(id, n.sm_index);
}

void interaction::add_nodes(size_t count, const r::config& t) {
  tmpl = t;
  r::initial_state boot;
  boot.snap.meta.index = 1;
  boot.snap.meta.term = 1;
  for (size_t i = 1; i <= count; ++i)
    boot.snap.meta.conf.voters.push_back(i);
  boot.snap.data = "boot";
  boot.hard.term = 1;
  boot.hard.commit = 1;
  for (size_t i = 1; i <= count; ++i) {
    auto& n = nodes_[i];
    n.disk = r::memory_storage{boot};
    start(i, n);
  }
}

void interaction::add_empty_node(r::node_id id) {
  auto& n = nodes_[id];
  n.disk = r::memory_storage{};
  start(id, n);
}

void interaction::apply(r::node_id id, node& n, const r::entry& e) {
  n.applied.push_back(e);
  n.sm_index = e.index;
  n.sm_digest = mix(n.sm_digest, e);
  checker_.on_apply(id, e);
}

std::string interaction::process_ready(r::node_id id) {
  auto& n = nodes_.at(id);
  std::vector<std::string> out;
  while (n.core->has_ready()) {
    auto rd = n.core->get_ready();
    out.push_back("> " + std::to_string(id) + " handling ready");
    n.disk.save(rd);
    if (rd.hard)
      out.push_back("  hard state: term=" + std::to_string(rd.hard->term)
                    + " vote=" + std::to_string(rd.hard->vote)
                    + " commit=" + std::to_string(rd.hard->commit));
    if (rd.snap)
      out.push_back(std::string{"  snapshot: "}
                    + (rd.snap_install ? "install " : "compact ")
                    + std::to_string(rd.snap->meta.index) + "/"
                    + std::to_string(rd.snap->meta.term));
    for (auto& e : rd.entries)
      out.push_back("  persist: " + r::describe(e));
    for (auto& m : rd.messages) {
      out.push_back("  send: " + r::describe(m));
      checker_.on_send(m);
      mailbox_.push_back(m);
    }
    if (rd.snap && rd.snap_install) {
      n.sm_index = rd.snap->meta.index;
      checker_.on_restore(id, n.sm_index);
    }
    for (auto& e : rd.committed) {
      out.push_back("  apply: " + r::describe(e));
      apply(id, n, e);
    }
    for (auto& rs : rd.reads) {
      out.push_back("  read ready: request=" + std::to_string(rs.request)
                    + " index=" + std::to_string(rs.index));
      n.reads.push_back(rs);
    }
    for (auto req : rd.failed_reads)
      out.push_back("  read failed: request=" + std::to_string(req));
    n.core->advance(rd);
    checker_.check(*n.core);
    if (!checker_.ok() && abort_on_violation)
      fail_test(checker_.violation());
  }
  return join(out);
}

std::string interaction::deliver(r::node_id id) {
  std::vector<std::string> out;
  std::vector<r::message> keep;
  std::vector<r::message> mine;
  for (auto& m : mailbox_)
    (m.to == id ? mine : keep).push_back(std::move(m));
  mailbox_.swap(keep);
  auto it = nodes_.find(id);
  for (auto& m : mine) {
    if (it == nodes_.end() || !it->second.core || isolated_.count(m.from)
        || isolated_.count(m.to)) {
      out.push_back("  dropped: " + r::describe(m));
      continue;
    }
    out.push_back("  " + r::describe(m));
    auto before = it->second.core->role();
    auto term = it->second.core->term();
    it->second.core->step(m);
    auto& c = *it->second.core;
    if (c.role() != before || c.term() != term)
      out.push_back("  " + std::to_string(id) + " is " + r::to_string(c.role())
                    + " at term " + std::to_string(c.term()));
    checker_.check(c);
    if (!checker_.ok() && abort_on_violation)
      fail_test(checker_.violation());
  }
  if (out.empty())
    return "";
  return "> " + std::to_string(id) + " receiving messages\n" + join(out);
}

std::string interaction::stabilize() {
  std::vector<std::string> out;
  for (int round = 0; round < 1000; ++round) {
    bool progress = false;
    for (auto& [id, n] : nodes_) {
      if (!n.core)
        continue;
      auto s = process_ready(id);
      if (!s.empty()) {
        out.push_back(s);
        progress = true;
      }
    }
    for (auto& [id, n] : nodes_) {
      auto s = deliver(id);
      if (!s.empty()) {
        out.push_back(s);
        progress = true;
      }
    }
    if (!progress)
      return join(out);
  }
  fail_test("stabilize does not converge");
  return {};
}

void interaction::tick(r::node_id id, uint64_t n) {
  for (uint64_t i = 0; i < n; ++i) {
    core(id).tick();
    checker_.check(core(id));
  }
}

void interaction::crash(r::node_id id) {
  nodes_.at(id).core.reset();
}

void interaction::restart(r::node_id id) {
  auto& n = nodes_.at(id);
  start(id, n);
  checker_.on_restart(*n.core);
}

r::node_id interaction::leader() const {
  r::node_id best = r::no_node;
  uint64_t term = 0;
  for (auto& [id, n] : nodes_)
    if (n.core && n.core->role() == r::role::leader
        && n.core->term() >= term) {
      best = id;
      term = n.core->term();
    }
  return best;
}

std::string interaction::run(const std::string& line) {
  auto w = split(line);
  if (w.empty())
    return "";
  auto& cmd = w[0];
  auto arg = [&](size_t i) -> uint64_t {
    if (i >= w.size())
      fail_test("missing argument in: " + line);
    return std::stoull(w[i]);
  };
  auto status = [&](r::node_id id) {
    auto& n = nodes_.at(id);
    if (!n.core)
      return std::to_string(id) + ": down";
    auto& c = *n.core;
    std::string s = std::to_string(id) + ": " + r::to_string(c.role())
                    + " term=" + std::to_string(c.term())
                    + " vote=" + std::to_string(c.vote())
                    + " lead=" + std::to_string(c.leader())
                    + " commit=" + std::to_string(c.commit_index())
                    + " applied=" + std::to_string(c.applied_index())
                    + " last=" + std::to_string(c.last_index()) + " voters=";
    for (size_t i = 0; i < c.conf().voters.size(); ++i)
      s += (i ? "," : "") + std::to_string(c.conf().voters[i]);
    if (!c.conf().learners.empty()) {
      s += " learners=";
      for (size_t i = 0; i < c.conf().learners.size(); ++i)
        s += (i ? "," : "") + std::to_string(c.conf().learners[i]);
    }
    return s;
  };
  if (cmd == "add-nodes") {
    r::config t;
    for (size_t i = 2; i < w.size(); ++i) {
      if (w[i] == "pre-vote=false")
        t.pre_vote = false;
      else if (w[i] == "check-quorum=false")
        t.check_quorum = false;
      else if (w[i] == "mutation=commit_old_term")
        t.mutation = r::mutation::commit_old_term;
      else if (w[i] == "mutation=count_stale_votes")
        t.mutation = r::mutation::count_stale_votes;
      else if (w[i].rfind("max-entries=", 0) == 0)
        t.max_entries_per_msg = std::stoull(w[i].substr(12));
      else if (w[i].rfind("max-inflight=", 0) == 0)
        t.max_inflight_msgs = std::stoull(w[i].substr(13));
      else
        fail_test("bad option " + w[i]);
    }
    add_nodes(arg(1), t);
    std::vector<std::string> out;
    for (auto& [id, n] : nodes_)
      out.push_back(status(id));
    return join(out);
  }
  if (cmd == "add-empty-node") {
    add_empty_node(arg(1));
    return status(arg(1));
  }
  if (cmd == "campaign") {
    core(arg(1)).campaign();
    checker_.check(core(arg(1)));
    return status(arg(1));
  }
  if (cmd == "tick") {
    auto before = core(arg(1)).role();
    tick(arg(1), w.size() > 2 ? arg(2) : 1);
    return core(arg(1)).role() != before ? status(arg(1)) : "";
  }
  if (cmd == "propose") {
    auto res = core(arg(1)).propose(w.size() > 2 ? w[2] : "");
    std::string out = r::to_string(res.status);
    if (res.status == r::propose_status::ok)
      out += " " + std::to_string(res.index) + "/" + std::to_string(res.term);
    else
      out += " leader=" + std::to_string(res.leader);
    return out;
  }
  if (cmd == "propose-conf-change") {
    r::conf_change cc;
    if (w.size() < 4)
      fail_test("usage: propose-conf-change ID op NODE");
    cc.op = w[2] == "add_voter"     ? r::conf_op::add_voter
            : w[2] == "add_learner" ? r::conf_op::add_learner
                                    : r::conf_op::remove;
    cc.node = arg(3);
    auto res = core(arg(1)).propose_conf_change(cc);
    std::string out = r::to_string(res.status);
    if (res.status == r::propose_status::ok)
      out += " " + std::to_string(res.index) + "/" + std::to_string(res.term);
    return out;
  }
  if (cmd == "transfer-leader") {
    return core(arg(1)).transfer_leader(arg(2)) ? "ok" : "refused";
  }
  if (cmd == "read-index") {
    return core(arg(1)).read_index(arg(2)) ? "ok" : "refused";
  }
  if (cmd == "process-ready")
    return process_ready(arg(1));
  if (cmd == "deliver-msgs")
    return deliver(arg(1));
  if (cmd == "drop-msgs") {
    std::vector<std::string> out;
    std::vector<r::message> keep;
    for (auto& m : mailbox_) {
      if (m.to == arg(1) && (w.size() < 3 || m.from == arg(2)))
        out.push_back("dropped: " + r::describe(m));
      else
        keep.push_back(m);
    }
    mailbox_.swap(keep);
    return join(out);
  }
  if (cmd == "stabilize")
    return stabilize();
  if (cmd == "isolate") {
    isolated_.insert(arg(1));
    return "";
  }
  if (cmd == "heal") {
    isolated_.clear();
    return "";
  }
  if (cmd == "crash") {
    crash(arg(1));
    return status(arg(1));
  }
  if (cmd == "restart") {
    restart(arg(1));
    return status(arg(1));
  }
  if (cmd == "compact") {
    auto& n = nodes_.at(arg(1));
    n.core->compact("state@" + std::to_string(n.sm_index));
    return process_ready(arg(1));
  }
  if (cmd == "status") {
    std::vector<std::string> out;
    if (w.size() > 1) {
      out.push_back(status(arg(1)));
    } else {
      for (auto& [id, n] : nodes_)
        out.push_back(status(id));
    }
    return join(out);
  }
  if (cmd == "log") {
    auto& c = core(arg(1));
    std::string out = "snapshot " + std::to_string(c.snapshot_index()) + "/"
                      + std::to_string(c.snapshot_term());
    for (auto i = c.first_index(); i <= c.last_index(); ++i)
      out += "\n" + r::describe(c.entry_at(i));
    return out;
  }
  fail_test("unknown command: " + line);
  return {};
}

} // namespace cxesdb::tests::raft
