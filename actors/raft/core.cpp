#include "actors/raft/core.hpp"

#include <algorithm>

#include "actors/assert.hpp"

// The algorithm follows the Raft paper (Ongaro & Ousterhout 2014) and
// Ongaro's thesis (2014) for pre-vote (9.6), check-quorum (6.2), leadership
// transfer (3.10), read index (6.4) and single-server membership changes
// (4.1). Section numbers below refer to the thesis.

namespace cxesdb::actors::raft {

const char* to_string(role r) {
  switch (r) {
    case role::follower: return "follower";
    case role::pre_candidate: return "pre_candidate";
    case role::candidate: return "candidate";
    case role::leader: return "leader";
  }
  return "?";
}

const char* to_string(propose_status s) {
  switch (s) {
    case propose_status::ok: return "ok";
    case propose_status::not_leader: return "not_leader";
    case propose_status::overloaded: return "overloaded";
    case propose_status::transferring: return "transferring";
    case propose_status::conf_pending: return "conf_pending";
    case propose_status::invalid: return "invalid";
    case propose_status::lagging: return "lagging";
  }
  return "?";
}

core::core(const config& cfg, const initial_state& init, random_fn rnd)
  : cfg_(cfg), rnd_(std::move(rnd)) {
  CXESDB_ASSERT(cfg_.id != no_node);
  CXESDB_ASSERT(cfg_.election_ticks >= 2);
  CXESDB_ASSERT(cfg_.heartbeat_ticks >= 1);
  CXESDB_ASSERT(cfg_.heartbeat_ticks < cfg_.election_ticks);
  CXESDB_ASSERT(cfg_.max_inflight_msgs >= 1);
  CXESDB_ASSERT(cfg_.max_entries_per_msg >= 1);
  CXESDB_ASSERT(cfg_.max_pending_proposals >= 1);
  CXESDB_ASSERT(cfg_.max_committed_per_ready >= 1);
  CXESDB_ASSERT(cfg_.max_outbox_msgs >= 1);
  CXESDB_ASSERT(rnd_ != nullptr);
  snapshot_ = init.snap;
  snap_index_ = init.snap.meta.index;
  snap_term_ = init.snap.meta.term;
  uint64_t expect = snap_index_ + 1;
  uint64_t prev_term = snap_term_;
  for (auto& e : init.entries) {
    CXESDB_ASSERT(e.index == expect);
    CXESDB_ASSERT(e.term >= prev_term);
    prev_term = e.term;
    ++expect;
    log_.push_back(e);
  }
  stable_ = last_index();
  term_ = init.hard.term;
  vote_ = init.hard.vote;
  CXESDB_ASSERT(term_ >= last_term() || cfg_.mutation != mutation::none);
  persisted_hard_ = init.hard;
  commit_ = std::max(init.hard.commit, snap_index_);
  CXESDB_ASSERT(commit_ <= last_index());
  applied_ = cfg_.applied_index == 0 ? snap_index_ : cfg_.applied_index;
  CXESDB_ASSERT(applied_ >= snap_index_ && applied_ <= commit_);
  conf_ = conf_at(applied_);
  applying_ = applied_;
  become_follower(term_, no_node);
}

// -- state ------------------------------------------------------------------

uint64_t core::last_term() const {
  return log_.empty() ? snap_term_ : log_.back().term;
}

std::optional<uint64_t> core::term_at(uint64_t index) const {
  if (index == snap_index_)
    return snap_term_;
  if (index < snap_index_ || index > last_index())
    return std::nullopt;
  return log_[index - snap_index_ - 1].term;
}

conf_state core::conf_at(uint64_t index) const {
  CXESDB_ASSERT(index >= snap_index_ && index <= last_index());
  auto conf = snapshot_.meta.conf;
  for (auto i = snap_index_ + 1; i <= index; ++i) {
    auto& e = entry_at(i);
    if (e.type == entry_type::conf_change)
      if (auto cc = decode_conf_change(e.data))
        conf.apply(*cc);
  }
  return conf;
}

const entry& core::entry_at(uint64_t index) const {
  CXESDB_ASSERT(index > snap_index_ && index <= last_index());
  return log_[index - snap_index_ - 1];
}

const progress* core::progress_of(node_id id) const {
  if (role_ != role::leader)
    return nullptr;
  auto i = prs_.find(id);
  return i == prs_.end() ? nullptr : &i->second;
}

bool core::promotable() const {
  return conf_.is_voter(cfg_.id);
}

size_t core::quorum() const {
  return conf_.voters.size() / 2 + 1;
}

// -- roles --------------------------------------------------------------------

void core::reset_randomized_timeout() {
  randomized_timeout_ = cfg_.election_ticks + rnd_() % cfg_.election_ticks;
}

void core::reset(uint64_t term) {
  CXESDB_ASSERT(term >= term_);
  if (term != term_) {
    term_ = term;
    vote_ = no_node;
  }
  leader_ = no_node;
  election_elapsed_ = 0;
  heartbeat_elapsed_ = 0;
  reset_randomized_timeout();
  transferee_ = no_node;
  votes_.clear();
  prs_.clear();
  need_broadcast_ = false;
  for (auto& r : pending_reads_)
    failed_reads_.push_back(r.request);
  pending_reads_.clear();
}

void core::become_follower(uint64_t term, node_id lead) {
  reset(term);
  role_ = role::follower;
  leader_ = lead;
}

void core::become_pre_candidate() {
  CXESDB_ASSERT(role_ != role::leader);
  // A pre-candidate changes neither its term nor its vote (thesis 9.6).
  auto t = term_;
  reset(t);
  role_ = role::pre_candidate;
}

void core::become_candidate() {
  CXESDB_ASSERT(role_ != role::leader);
  reset(term_ + 1);
  vote_ = cfg_.id;
  role_ = role::candidate;
}

void core::become_leader() {
  CXESDB_ASSERT(role_ == role::candidate);
  auto t = term_;
  auto v = vote_;
  reset(t);
  vote_ = v;
  role_ = role::leader;
  leader_ = cfg_.id;
  ++elections_won_;
  for (auto id : conf_.voters)
    prs_[id].next = last_index() + 1;
  for (auto id : conf_.learners)
    prs_[id].next = last_index() + 1;
  if (auto i = prs_.find(cfg_.id); i != prs_.end()) {
    i->second.match = stable_;
    i->second.recent_active = true;
  }
  // No membership change until every entry of earlier terms is applied:
  // this closes the single-server change bug that Ongaro reported in 2015.
  pending_conf_index_ = last_index();
  // The no-op commits the entries of earlier terms (paper 5.4.2).
  append_local(entry_type::no_op, {});
}

void core::start_campaign(bool pre, bool transfer) {
  if (pre)
    become_pre_candidate();
  else
    become_candidate();
  auto vote_term = pre ? term_ + 1 : term_;
  votes_[cfg_.id] = true;
  if (votes_.size() >= quorum()) {
    // A group of one wins at once.
    if (pre)
      start_campaign(false, transfer);
    else
      become_leader();
    return;
  }
  for (auto id : conf_.voters) {
    if (id == cfg_.id)
      continue;
    message m;
    m.type = pre ? message_type::pre_vote : message_type::vote;
    m.to = id;
    m.term = vote_term;
    m.index = last_index();
    m.log_term = last_term();
    m.context = transfer ? transfer_context : 0;
    send(std::move(m));
  }
}

// -- inputs -------------------------------------------------------------------

void core::campaign() {
  if (role_ == role::leader || !promotable())
    return;
  start_campaign(cfg_.pre_vote, false);
}

void core::tick() {
  if (role_ == role::leader) {
    ++election_elapsed_;
    ++heartbeat_elapsed_;
    for (auto& [id, pr] : prs_) {
      if (pr.state == progress_state::snapshot && pr.snapshot_wait_ticks > 0
          && --pr.snapshot_wait_ticks == 0) {
        // The snapshot or its answer got lost: probe again.
        pr.state = progress_state::probe;
        pr.probe_sent = false;
        pr.next = pr.match + 1;
      }
    }
    if (election_elapsed_ >= cfg_.election_ticks) {
      election_elapsed_ = 0;
      if (cfg_.check_quorum) {
        if (!quorum_active()) {
          // Check-quorum (6.2): a leader cut off from a majority steps down
          // so that clients look for the new one.
          become_follower(term_, no_node);
          return;
        }
        for (auto& [id, pr] : prs_)
          pr.recent_active = id == cfg_.id;
      }
      if (transferee_ != no_node)
        abort_transfer();
    }
    if (heartbeat_elapsed_ >= cfg_.heartbeat_ticks) {
      heartbeat_elapsed_ = 0;
      broadcast_heartbeat(pending_reads_.empty() ? 0
                                                 : pending_reads_.back().seq);
    }
    return;
  }
  ++election_elapsed_;
  if (promotable() && election_elapsed_ >= randomized_timeout_) {
    election_elapsed_ = 0;
    start_campaign(cfg_.pre_vote, false);
  }
}

propose_result core::propose(std::string data) {
  propose_result res;
  res.leader = leader_;
  if (role_ != role::leader)
    return res;
  if (transferee_ != no_node) {
    res.status = propose_status::transferring;
    return res;
  }
  if (last_index() - commit_ >= cfg_.max_pending_proposals) {
    res.status = propose_status::overloaded;
    return res;
  }
  append_local(entry_type::normal, std::move(data));
  res.status = propose_status::ok;
  res.index = last_index();
  res.term = term_;
  return res;
}

propose_result core::propose_conf_change(const conf_change& cc) {
  propose_result res;
  res.leader = leader_;
  if (role_ != role::leader)
    return res;
  if (transferee_ != no_node) {
    res.status = propose_status::transferring;
    return res;
  }
  if (pending_conf_index_ > applied_) {
    res.status = propose_status::conf_pending;
    return res;
  }
  auto next = conf_;
  // The leader does not remove itself: transfer leadership first.
  if (cc.node == no_node || (cc.op == conf_op::remove && cc.node == cfg_.id)
      || !next.apply(cc) || next.voters.empty()) {
    res.status = propose_status::invalid;
    return res;
  }
  if (cc.op == conf_op::add_voter && conf_.is_learner(cc.node)
      && prs_.at(cc.node).match < commit_) {
    // A learner votes only once it holds the committed log (thesis 4.2.1):
    // otherwise it would weaken availability while catching up.
    res.status = propose_status::lagging;
    return res;
  }
  if (last_index() - commit_ >= cfg_.max_pending_proposals) {
    res.status = propose_status::overloaded;
    return res;
  }
  append_local(entry_type::conf_change, encode_conf_change(cc));
  pending_conf_index_ = last_index();
  res.status = propose_status::ok;
  res.index = last_index();
  res.term = term_;
  return res;
}

bool core::transfer_leader(node_id to) {
  if (role_ != role::leader || to == cfg_.id || !conf_.is_voter(to))
    return false;
  if (transferee_ == to)
    return true;
  abort_transfer();
  transferee_ = to;
  // The transfer must finish within one election timeout (3.10).
  election_elapsed_ = 0;
  auto& pr = prs_.at(to);
  if (pr.match == last_index()) {
    message m;
    m.type = message_type::timeout_now;
    m.to = to;
    send(std::move(m));
  } else {
    send_append(to, true);
  }
  return true;
}

bool core::read_index(uint64_t request) {
  if (role_ != role::leader)
    return false;
  // The leader knows the commit index only once it committed an entry of
  // its own term (6.4, step 1).
  auto t = term_at(commit_);
  if (!t || *t != term_)
    return false;
  if (pending_reads_.size() >= cfg_.max_pending_reads)
    return false;
  if (quorum() == 1 || cfg_.mutation == mutation::read_without_quorum) {
    reads_.push_back(read_state{commit_, request});
    return true;
  }
  pending_read r{request, commit_, ++read_seq_, {cfg_.id}};
  pending_reads_.push_back(std::move(r));
  broadcast_heartbeat(read_seq_);
  return true;
}

void core::compact(std::string data) {
  compact(applied_, std::move(data));
}

void core::compact(uint64_t index, std::string data) {
  CXESDB_ASSERT(!ready_outstanding_);
  CXESDB_ASSERT(applied_ <= stable_);
  CXESDB_ASSERT(index <= applied_);
  if (index <= snap_index_)
    return;
  auto t = term_at(index);
  if (!t && cfg_.mutation != mutation::none)
    return; // a deliberately broken core applied past its log
  CXESDB_ASSERT(t.has_value());
  snapshot_.meta.index = index;
  snapshot_.meta.term = *t;
  // The membership as of `index`: the current one, unless a change applied
  // after `index` (one at a time, so at most the pending or last one).
  snapshot_.meta.conf = conf_at(index);
  snapshot_.data = std::move(data);
  log_.erase(log_.begin(), log_.begin() + (index - snap_index_));
  snap_index_ = index;
  snap_term_ = *t;
  snapshot_unpersisted_ = true;
  snapshot_install_ = false;
}

// -- message dispatch ---------------------------------------------------------

// step: called by the shell for every message that arrives from a peer, in
// any order, possibly duplicated or stale. It sorts out terms first (paper
// 5.1) and then hands the message to the role's handler. It must not block
// or touch storage: everything it decides goes into the next ready.
void core::step(const message& m) {
  CXESDB_ASSERT(m.to == cfg_.id);
  CXESDB_ASSERT(m.from != no_node && m.from != cfg_.id);
  bool is_vote_req = m.type == message_type::vote
                     || m.type == message_type::pre_vote;
  if (m.term > term_) {
    if (is_vote_req) {
      // Leader lease (6.2 / 4.2.3): while this server hears from a leader
      // it ignores vote requests, so a disruptive server cannot depose it.
      bool in_lease = cfg_.check_quorum && leader_ != no_node
                      && election_elapsed_ < cfg_.election_ticks;
      if (in_lease && m.context != transfer_context)
        return;
    }
    if (m.type == message_type::pre_vote) {
      // A pre-vote never changes the receiver's term.
    } else if (m.type == message_type::pre_vote_resp && !m.reject) {
      // A granted pre-vote carries the future term; it is counted below.
    } else if (m.type == message_type::append
               || m.type == message_type::heartbeat
               || m.type == message_type::snapshot) {
      become_follower(m.term, m.from);
    } else {
      become_follower(m.term, no_node);
    }
  } else if (m.term < term_) {
    if (cfg_.mutation == mutation::count_stale_votes
        && m.type == message_type::vote_resp && role_ == role::candidate) {
      step_candidate(m);
      return;
    }
    if ((cfg_.check_quorum || cfg_.pre_vote)
        && (m.type == message_type::heartbeat
            || m.type == message_type::append)) {
      // Tell a stale leader about the newer term so it steps down; with
      // pre-vote it would otherwise never learn of it.
      message r;
      r.type = message_type::append_resp;
      r.to = m.from;
      send(std::move(r));
    } else if (m.type == message_type::pre_vote) {
      message r;
      r.type = message_type::pre_vote_resp;
      r.to = m.from;
      r.reject = true;
      send(std::move(r));
    }
    return;
  }
  if (is_vote_req) {
    handle_vote_request(m);
    return;
  }
  switch (role_) {
    case role::leader: step_leader(m); break;
    case role::pre_candidate:
    case role::candidate: step_candidate(m); break;
    case role::follower: step_follower(m); break;
  }
}

bool core::up_to_date(uint64_t lt, uint64_t li) const {
  return lt > last_term() || (lt == last_term() && li >= last_index());
}

// handle_vote_request: called from step for (pre-)vote requests whose term
// is at least ours. Grants at most one real vote per term (the vote is in
// the hard state of the same ready, persisted before the answer leaves).
void core::handle_vote_request(const message& m) {
  bool pre = m.type == message_type::pre_vote;
  bool can_vote = vote_ == m.from || (vote_ == no_node && leader_ == no_node)
                  || (pre && m.term > term_);
  bool log_ok = up_to_date(m.log_term, m.index)
                || cfg_.mutation == mutation::vote_without_log_check;
  message r;
  r.type = pre ? message_type::pre_vote_resp : message_type::vote_resp;
  r.to = m.from;
  if (can_vote && log_ok) {
    r.term = m.term;
    if (!pre) {
      election_elapsed_ = 0;
      vote_ = m.from;
    }
  } else {
    r.reject = true;
  }
  send(std::move(r));
}

// step_candidate: called from step while (pre-)campaigning. Must only
// count answers to its own round, from voters of its configuration.
void core::step_candidate(const message& m) {
  switch (m.type) {
    case message_type::append:
      become_follower(m.term, m.from);
      handle_append(m);
      return;
    case message_type::heartbeat:
      become_follower(m.term, m.from);
      handle_heartbeat(m);
      return;
    case message_type::snapshot:
      become_follower(m.term, m.from);
      handle_snapshot(m);
      return;
    case message_type::vote_resp:
    case message_type::pre_vote_resp: {
      bool pre = role_ == role::pre_candidate;
      if (pre != (m.type == message_type::pre_vote_resp))
        return;
      if (!conf_.is_voter(m.from))
        return;
      votes_.emplace(m.from, !m.reject);
      size_t granted = 0;
      size_t rejected = 0;
      for (auto& [id, g] : votes_)
        (g ? granted : rejected) += 1;
      if (granted >= quorum()) {
        if (pre)
          start_campaign(false, false);
        else
          become_leader();
      } else if (rejected >= quorum()) {
        become_follower(term_, no_node);
      }
      return;
    }
    default:
      return;
  }
}

// step_follower: called from step for messages of the current term while
// following. Resets the election timer whenever the leader is heard.
void core::step_follower(const message& m) {
  switch (m.type) {
    case message_type::append:
      election_elapsed_ = 0;
      leader_ = m.from;
      handle_append(m);
      return;
    case message_type::heartbeat:
      election_elapsed_ = 0;
      leader_ = m.from;
      handle_heartbeat(m);
      return;
    case message_type::snapshot:
      election_elapsed_ = 0;
      leader_ = m.from;
      handle_snapshot(m);
      return;
    case message_type::timeout_now:
      // Leadership transfer (3.10): campaign at once, skipping pre-vote.
      if (promotable())
        start_campaign(false, true);
      return;
    default:
      return;
  }
}

uint64_t core::find_conflict_by_term(uint64_t index, uint64_t term) const {
  // The largest index <= `index` whose term is <= `term`; everything after
  // it cannot match a log whose entry at `index` has term `term`.
  index = std::min(index, last_index());
  while (index > snap_index_) {
    auto t = term_at(index);
    if (!t || *t <= term)
      return index;
    --index;
  }
  return index;
}

void core::truncate_and_append(const std::vector<entry>& entries) {
  for (size_t k = 0; k < entries.size(); ++k) {
    auto& e = entries[k];
    auto t = term_at(e.index);
    if (t && *t == e.term)
      continue;
    // First conflict or first new entry: everything from here is replaced.
    // handle_append checked prev index >= commit, so this never reaches a
    // committed entry.
    CXESDB_ASSERT(e.index > commit_);
    CXESDB_ASSERT(e.index > snap_index_ && e.index <= last_index() + 1);
    log_.resize(e.index - snap_index_ - 1);
    if (stable_ >= e.index)
      stable_ = e.index - 1;
    for (; k < entries.size(); ++k) {
      CXESDB_ASSERT(entries[k].index == last_index() + 1);
      CXESDB_ASSERT(entries[k].term >= last_term());
      log_.push_back(entries[k]);
    }
    return;
  }
}

// handle_append: called for AppendEntries of the current term. Appends
// after a log-matching check (paper 5.3), never truncating a committed
// entry, and answers with the index it now matches or a hint for a fast
// back-off. The answer leaves only after these entries are persisted.
void core::handle_append(const message& m) {
  message r;
  r.type = message_type::append_resp;
  r.to = m.from;
  if (m.index < commit_) {
    r.index = commit_;
    send(std::move(r));
    return;
  }
  auto t = term_at(m.index);
  if (t && *t == m.log_term) {
    auto last_new = m.index + m.entries.size();
    truncate_and_append(m.entries);
    commit_ = std::max(commit_, std::min(m.commit, last_new));
    r.index = last_new;
    send(std::move(r));
    return;
  }
  // Fast back-off: point the leader at the last index whose term could
  // match, so one round trip skips a whole term of conflicting entries.
  auto hint = find_conflict_by_term(std::min(m.index, last_index()),
                                    m.log_term);
  r.reject = true;
  r.index = m.index;
  r.reject_hint = hint;
  r.log_term = term_at(hint).value_or(0);
  send(std::move(r));
}

// handle_heartbeat: called for heartbeats of the current term. The leader
// sends commit = min(commit, our match), so it never exceeds our log.
void core::handle_heartbeat(const message& m) {
  if (cfg_.mutation == mutation::commit_from_heartbeat)
    commit_ = std::min(m.commit, last_index());
  if (m.commit > commit_) {
    CXESDB_ASSERT(m.commit <= last_index() || cfg_.mutation != mutation::none);
    commit_ = std::min(m.commit, last_index());
  }
  message r;
  r.type = message_type::heartbeat_resp;
  r.to = m.from;
  r.context = m.context;
  send(std::move(r));
}

// handle_snapshot: called for InstallSnapshot of the current term. Replaces
// the log and (through the ready) the state machine, unless the log already
// holds the snapshot's last entry.
void core::handle_snapshot(const message& m) {
  CXESDB_ASSERT(m.snap != nullptr);
  auto& s = *m.snap;
  message r;
  r.type = message_type::append_resp;
  r.to = m.from;
  if (s.meta.index <= commit_) {
    r.index = commit_;
    send(std::move(r));
    return;
  }
  auto t = term_at(s.meta.index);
  if (t && *t == s.meta.term) {
    // Our log has it: just commit up to there.
    commit_ = s.meta.index;
    r.index = s.meta.index;
    send(std::move(r));
    return;
  }
  CXESDB_ASSERT(!ready_outstanding_ || applying_ <= commit_);
  snapshot_ = s;
  snapshot_unpersisted_ = true;
  snapshot_install_ = true;
  snap_index_ = s.meta.index;
  snap_term_ = s.meta.term;
  log_.clear();
  stable_ = snap_index_;
  commit_ = snap_index_;
  applied_ = snap_index_;
  applying_ = snap_index_;
  conf_ = s.meta.conf;
  r.index = snap_index_;
  send(std::move(r));
}

// step_leader: called for messages of the current term while leading:
// answers to appends and heartbeats. Must never append on behalf of a
// follower nor count a non-voter towards commit.
void core::step_leader(const message& m) {
  auto i = prs_.find(m.from);
  if (i == prs_.end())
    return;
  auto& pr = i->second;
  switch (m.type) {
    case message_type::append_resp:
      pr.recent_active = true;
      handle_append_resp(m, pr);
      return;
    case message_type::heartbeat_resp:
      pr.recent_active = true;
      handle_heartbeat_resp(m, pr);
      return;
    default:
      return;
  }
}

// handle_append_resp: called from step_leader for answers to appends and
// snapshots. Moves the follower's progress (probe -> replicate, back-off on
// rejection), commits what a majority holds, keeps the pipeline full. Must
// ignore stale answers rather than move `next` backwards past `match`.
void core::handle_append_resp(const message& m, progress& pr) {
  if (m.reject) {
    if (pr.state == progress_state::replicate) {
      if (m.index <= pr.match)
        return; // stale
      pr.state = progress_state::probe;
      pr.next = pr.match + 1;
      pr.inflight.clear();
      pr.probe_sent = false;
    } else if (pr.state == progress_state::probe) {
      if (pr.next == 0 || m.index != pr.next - 1)
        return; // stale
      auto next_probe = m.reject_hint;
      if (m.log_term > 0)
        next_probe = find_conflict_by_term(m.reject_hint, m.log_term);
      pr.next = std::max(std::min(m.index, next_probe + 1), pr.match + 1);
      pr.probe_sent = false;
    } else {
      return;
    }
    send_append(m.from, true);
    return;
  }
  bool updated = false;
  if (m.index > pr.match) {
    pr.match = m.index;
    updated = true;
  }
  pr.next = std::max(pr.next, m.index + 1);
  switch (pr.state) {
    case progress_state::probe:
      pr.state = progress_state::replicate;
      pr.next = pr.match + 1;
      pr.inflight.clear();
      pr.probe_sent = false;
      break;
    case progress_state::snapshot:
      if (pr.match >= pr.pending_snapshot) {
        pr.state = progress_state::replicate;
        pr.next = pr.match + 1;
        pr.inflight.clear();
      }
      break;
    case progress_state::replicate:
      while (!pr.inflight.empty() && pr.inflight.front() <= m.index)
        pr.inflight.pop_front();
      break;
  }
  if (updated && maybe_commit())
    broadcast_append();
  // Keep the pipeline full.
  for (size_t n = 0; n <= cfg_.max_inflight_msgs; ++n)
    if (!send_append(m.from, false))
      break;
  if (m.from == transferee_ && pr.match == last_index()) {
    message t;
    t.type = message_type::timeout_now;
    t.to = m.from;
    send(std::move(t));
  }
}

// handle_heartbeat_resp: called from step_leader. Unpauses a probing
// follower, resends what it lacks, and counts the answer towards pending
// read-index rounds. Must not move `match`: a heartbeat proves nothing
// about the follower's log.
void core::handle_heartbeat_resp(const message& m, progress& pr) {
  pr.probe_sent = false;
  // A lost append could leave the window full forever: free one slot so
  // the next append reveals the gap.
  if (pr.state == progress_state::replicate
      && pr.inflight.size() >= cfg_.max_inflight_msgs)
    pr.inflight.pop_front();
  if (pr.match < last_index())
    send_append(m.from, true);
  if (m.context != 0) {
    for (auto& r : pending_reads_)
      if (r.seq <= m.context)
        r.acks.insert(m.from);
    release_reads();
  }
}

void core::release_reads() {
  // Reads are answered in order; an ack of a later round confirms all
  // earlier ones (it was sent after them).
  size_t last_ok = 0;
  for (size_t k = 0; k < pending_reads_.size(); ++k) {
    size_t n = 0;
    for (auto id : pending_reads_[k].acks)
      if (conf_.is_voter(id))
        ++n;
    if (n >= quorum())
      last_ok = k + 1;
  }
  for (size_t k = 0; k < last_ok; ++k) {
    reads_.push_back(read_state{pending_reads_.front().index,
                                pending_reads_.front().request});
    pending_reads_.pop_front();
  }
}

// -- leader helpers -----------------------------------------------------------

void core::append_local(entry_type type, std::string data) {
  CXESDB_ASSERT(role_ == role::leader);
  entry e;
  e.index = last_index() + 1;
  e.term = term_;
  e.type = type;
  e.data = std::move(data);
  log_.push_back(std::move(e));
  // Sent with the next ready, so that proposals arriving meanwhile share
  // one AppendEntries (batching).
  need_broadcast_ = true;
}

bool core::send_append(node_id to, bool send_if_empty) {
  if (to == cfg_.id)
    return false;
  auto& pr = prs_.at(to);
  switch (pr.state) {
    case progress_state::probe:
      if (pr.probe_sent)
        return false;
      break;
    case progress_state::replicate:
      if (pr.inflight.size() >= cfg_.max_inflight_msgs)
        return false;
      break;
    case progress_state::snapshot:
      return false;
  }
  auto prev = pr.next - 1;
  auto prev_term = term_at(prev);
  if (!prev_term) {
    // The entries it needs are compacted: send the snapshot (thesis 5.3).
    CXESDB_ASSERT(snap_index_ > 0);
    message m;
    m.type = message_type::snapshot;
    m.to = to;
    m.snap = std::make_shared<const snapshot>(snapshot_);
    send(std::move(m));
    pr.state = progress_state::snapshot;
    pr.pending_snapshot = snap_index_;
    pr.snapshot_wait_ticks = cfg_.election_ticks;
    pr.inflight.clear();
    return false;
  }
  message m;
  m.type = message_type::append;
  m.to = to;
  m.index = prev;
  m.log_term = *prev_term;
  m.commit = commit_;
  size_t bytes = 0;
  for (auto i = pr.next; i <= last_index(); ++i) {
    if (m.entries.size() >= cfg_.max_entries_per_msg)
      break;
    auto& e = entry_at(i);
    if (!m.entries.empty() && bytes + e.data.size() > cfg_.max_msg_bytes)
      break;
    bytes += e.data.size();
    m.entries.push_back(e);
  }
  if (m.entries.empty() && !send_if_empty)
    return false;
  if (pr.state == progress_state::replicate && !m.entries.empty()) {
    pr.next = m.entries.back().index + 1;
    pr.inflight.push_back(m.entries.back().index);
  } else if (pr.state == progress_state::probe) {
    pr.probe_sent = true;
  }
  send(std::move(m));
  return true;
}

void core::broadcast_append() {
  for (auto& [id, pr] : prs_) {
    if (id == cfg_.id || !send_append(id, true))
      continue;
    // Pipelining: fill the window of a replicating follower.
    for (size_t n = 1; n < cfg_.max_inflight_msgs; ++n)
      if (!send_append(id, false))
        break;
  }
}

void core::broadcast_heartbeat(uint64_t context) {
  for (auto& [id, pr] : prs_) {
    if (id == cfg_.id)
      continue;
    message m;
    m.type = message_type::heartbeat;
    m.to = id;
    m.commit = std::min(pr.match, commit_);
    m.context = context;
    send(std::move(m));
  }
}

bool core::maybe_commit() {
  std::vector<uint64_t> matches;
  for (auto id : conf_.voters) {
    auto i = prs_.find(id);
    matches.push_back(i == prs_.end() ? 0 : i->second.match);
  }
  if (matches.empty())
    return false;
  std::sort(matches.begin(), matches.end(), std::greater<uint64_t>());
  auto q = quorum();
  if (cfg_.mutation == mutation::commit_without_majority && q > 1)
    --q;
  auto n = matches[q - 1];
  if (n <= commit_)
    return false;
  // Figure 8: only entries of the current term are committed by counting.
  auto t = term_at(n);
  if (!t && cfg_.mutation != mutation::none)
    return false;
  CXESDB_ASSERT(t.has_value());
  if (*t != term_ && cfg_.mutation != mutation::commit_old_term)
    return false;
  commit_ = n;
  return true;
}

bool core::quorum_active() const {
  size_t n = 0;
  for (auto id : conf_.voters) {
    auto i = prs_.find(id);
    if (id == cfg_.id || (i != prs_.end() && i->second.recent_active))
      ++n;
  }
  return n >= quorum();
}

void core::abort_transfer() {
  transferee_ = no_node;
}

void core::send(message m) {
  if (msgs_.size() >= cfg_.max_outbox_msgs) {
    ++dropped_msgs_;
    return;
  }
  m.from = cfg_.id;
  if (m.term == 0)
    m.term = term_;
  msgs_.push_back(std::move(m));
}

void core::apply_conf(const conf_change& cc) {
  if (!conf_.apply(cc))
    return;
  if (role_ != role::leader)
    return;
  if (!conf_.is_voter(cfg_.id)) {
    // Removed (or demoted) by a change an earlier leader proposed.
    become_follower(term_, no_node);
    return;
  }
  if (conf_.is_member(cc.node) && prs_.count(cc.node) == 0) {
    progress pr;
    pr.next = last_index() + 1;
    pr.recent_active = true;
    prs_[cc.node] = pr;
    send_append(cc.node, true); // start catching it up now
  } else if (!conf_.is_member(cc.node)) {
    prs_.erase(cc.node);
    if (transferee_ == cc.node)
      abort_transfer();
  }
  // The quorum changed: maybe something commits now.
  if (maybe_commit())
    need_broadcast_ = true;
  release_reads();
}

// -- output -------------------------------------------------------------------

hard_state core::current_hard() const {
  hard_state hs{term_, vote_, commit_};
  if (cfg_.mutation == mutation::forget_vote)
    hs.vote = no_node;
  if (cfg_.mutation == mutation::forget_term && persisted_hard_.term != 0)
    hs.term = persisted_hard_.term;
  return hs;
}

bool core::has_ready() const {
  if (ready_outstanding_)
    return false;
  if (need_broadcast_ || !msgs_.empty() || snapshot_unpersisted_
      || stable_ < last_index() || !reads_.empty() || !failed_reads_.empty())
    return true;
  if (current_hard() != persisted_hard_)
    return true;
  if (cfg_.mutation == mutation::apply_uncommitted)
    return applying_ < stable_;
  return applying_ < std::min(commit_, stable_);
}

ready core::get_ready() {
  CXESDB_ASSERT(!ready_outstanding_);
  if (need_broadcast_ && role_ == role::leader)
    broadcast_append();
  need_broadcast_ = false;
  ready rd;
  auto hs = current_hard();
  if (hs != persisted_hard_)
    rd.hard = hs;
  if (snapshot_unpersisted_) {
    rd.snap = snapshot_;
    rd.snap_install = snapshot_install_;
  }
  for (auto i = std::max(stable_, snap_index_) + 1; i <= last_index(); ++i)
    rd.entries.push_back(entry_at(i));
  rd.messages.swap(msgs_);
  auto hi = std::min(commit_, stable_);
  if (cfg_.mutation == mutation::apply_uncommitted)
    hi = stable_;
  for (auto i = applying_ + 1;
       i <= hi && rd.committed.size() < cfg_.max_committed_per_ready; ++i)
    rd.committed.push_back(entry_at(i));
  if (!rd.committed.empty())
    applying_ = rd.committed.back().index;
  rd.reads.swap(reads_);
  rd.failed_reads.swap(failed_reads_);
  ready_outstanding_ = true;
  return rd;
}

void core::advance(const ready& rd) {
  CXESDB_ASSERT(ready_outstanding_);
  ready_outstanding_ = false;
  if (rd.hard)
    persisted_hard_ = *rd.hard;
  if (rd.snap) {
    if (snapshot_.meta.index == rd.snap->meta.index)
      snapshot_unpersisted_ = false;
  }
  if (!rd.entries.empty()) {
    auto& last = rd.entries.back();
    // Only if no conflicting append replaced these entries meanwhile.
    auto t = term_at(last.index);
    if (t && *t == last.term && last.index > stable_)
      stable_ = last.index;
  }
  for (auto& e : rd.committed) {
    if (e.index <= applied_)
      continue; // superseded by a snapshot install
    CXESDB_ASSERT(e.index == applied_ + 1);
    applied_ = e.index;
    if (e.type == entry_type::conf_change)
      if (auto cc = decode_conf_change(e.data))
        apply_conf(*cc);
  }
  applying_ = std::max(applying_, applied_);
  if (role_ == role::leader) {
    auto& self = prs_[cfg_.id];
    if (stable_ > self.match) {
      self.match = stable_;
      if (maybe_commit())
        need_broadcast_ = true;
    }
  }
}

} // namespace cxesdb::actors::raft
