#include "actors/raft/invariant_checker.hpp"

#include <algorithm>

namespace cxesdb::actors::raft {

namespace {

uint64_t digest_of(const entry& e) {
  // FNV-1a over term, type and payload.
  uint64_t h = 1469598103934665603ull;
  auto mix = [&h](uint64_t x) {
    for (int i = 0; i < 8; ++i) {
      h ^= (x >> (8 * i)) & 0xff;
      h *= 1099511628211ull;
    }
  };
  mix(e.term);
  mix(static_cast<uint64_t>(e.type));
  for (unsigned char ch : e.data) {
    h ^= ch;
    h *= 1099511628211ull;
  }
  return h;
}

void grow(std::vector<uint64_t>& xs, uint64_t index) {
  if (xs.size() < index)
    xs.resize(index, 0);
}

} // namespace

void invariant_checker::fail(std::string what) {
  if (violation_.empty())
    violation_ = std::move(what);
}

void invariant_checker::record_committed(node_id id, uint64_t index,
                                         uint64_t term) {
  if (index == 0)
    return;
  grow(committed_terms_, index);
  auto& t = committed_terms_[index - 1];
  if (t == 0)
    t = term;
  else if (t != term)
    fail("committed entry changed: node " + std::to_string(id) + " index "
         + std::to_string(index) + " has term " + std::to_string(term)
         + ", committed term " + std::to_string(t));
}

void invariant_checker::check(const core& c) {
  auto& v = nodes_[c.id()];
  if (c.term() < v.term)
    fail("term decreased on node " + std::to_string(c.id()));
  if (c.commit_index() < v.commit)
    fail("commit index decreased on node " + std::to_string(c.id()) + ": "
         + std::to_string(v.commit) + " -> "
         + std::to_string(c.commit_index()));
  if (c.commit_index() > c.last_index())
    fail("commit beyond log on node " + std::to_string(c.id()));
  if (c.role() == role::leader) {
    auto [it, fresh] = leaders_.emplace(c.term(), c.id());
    if (!fresh && it->second != c.id())
      fail("two leaders in term " + std::to_string(c.term()) + ": "
           + std::to_string(it->second) + " and " + std::to_string(c.id()));
    if (v.leader_checked_term != c.term()) {
      // Leader completeness: a new leader holds every committed entry.
      v.leader_checked_term = c.term();
      auto hi = std::min<uint64_t>(c.last_index(), committed_terms_.size());
      for (auto i = c.first_index(); i <= hi; ++i) {
        auto want = committed_terms_[i - 1];
        if (want != 0 && *c.term_at(i) != want)
          fail("leader " + std::to_string(c.id()) + " of term "
               + std::to_string(c.term()) + " lacks committed entry "
               + std::to_string(i));
      }
      if (c.last_index() < committed_terms_.size()
          && c.snapshot_index() < committed_terms_.size())
        fail("leader " + std::to_string(c.id()) + " of term "
             + std::to_string(c.term()) + " has a shorter log ("
             + std::to_string(c.last_index()) + ") than the commit ("
             + std::to_string(committed_terms_.size()) + ")");
    }
  }
  // Entries that became committed on this node since the last check.
  auto from = std::max(v.commit + 1, c.snapshot_index());
  for (auto i = from; i <= c.commit_index(); ++i)
    if (auto t = c.term_at(i))
      record_committed(c.id(), i, *t);
  v.term = std::max(v.term, c.term());
  v.commit = std::max(v.commit, c.commit_index());
}

void invariant_checker::on_send(const message& m) {
  auto& v = nodes_[m.from];
  // Pre-vote messages carry a future term that is never persisted.
  if (m.type != message_type::pre_vote
      && m.type != message_type::pre_vote_resp)
    v.sent_term = std::max(v.sent_term, m.term);
  if (m.type == message_type::append || m.type == message_type::heartbeat)
    v.sent_commit = std::max(v.sent_commit, m.commit);
}

void invariant_checker::on_restart(const core& c) {
  auto& v = nodes_[c.id()];
  if (c.term() < v.sent_term)
    fail("node " + std::to_string(c.id()) + " restarted with term "
         + std::to_string(c.term()) + " below the term "
         + std::to_string(v.sent_term) + " it had sent");
  if (c.commit_index() < v.sent_commit)
    fail("node " + std::to_string(c.id()) + " restarted with commit "
         + std::to_string(c.commit_index()) + " below the commit "
         + std::to_string(v.sent_commit) + " it had sent");
  // What was in memory only is gone; start a new lifetime.
  v.term = c.term();
  v.commit = c.commit_index();
  v.applied = c.applied_index();
  v.leader_checked_term = 0;
  check(c);
}

void invariant_checker::on_apply(node_id id, const entry& e) {
  auto& v = nodes_[id];
  if (e.index != v.applied + 1)
    fail("node " + std::to_string(id) + " applied " + std::to_string(e.index)
         + " after " + std::to_string(v.applied));
  v.applied = e.index;
  auto d = digest_of(e);
  grow(applied_digests_, e.index);
  auto& want = applied_digests_[e.index - 1];
  if (want == 0)
    want = d;
  else if (want != d)
    fail("node " + std::to_string(id) + " applied a different entry at "
         + std::to_string(e.index));
  auto ct = committed_term(e.index);
  if (ct != 0 && ct != e.term)
    fail("node " + std::to_string(id) + " applied an uncommitted entry at "
         + std::to_string(e.index));
}

void invariant_checker::on_restore(node_id id, uint64_t index) {
  nodes_[id].applied = index;
}

void invariant_checker::on_state(node_id id, uint64_t index, uint64_t digest) {
  if (index == 0)
    return;
  grow(state_digests_, index);
  auto& want = state_digests_[index - 1];
  if (want == 0)
    want = digest;
  else if (want != digest)
    fail("node " + std::to_string(id) + " has a different state after "
         + std::to_string(index));
}

void invariant_checker::forget(node_id id) {
  nodes_.erase(id);
}

} // namespace cxesdb::actors::raft
