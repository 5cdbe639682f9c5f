#include "actors/raft/types.hpp"

#include <algorithm>

namespace cxesdb::actors::raft {

bool operator==(const entry& x, const entry& y) {
  return x.index == y.index && x.term == y.term && x.type == y.type
         && x.data == y.data;
}

std::string encode_conf_change(const conf_change& cc) {
  std::string out;
  out.push_back(static_cast<char>(cc.op));
  for (int i = 0; i < 8; ++i)
    out.push_back(static_cast<char>((cc.node >> (8 * i)) & 0xff));
  return out;
}

std::optional<conf_change> decode_conf_change(const std::string& data) {
  if (data.size() != 9)
    return std::nullopt;
  auto op = static_cast<uint8_t>(data[0]);
  if (op < 1 || op > 3)
    return std::nullopt;
  conf_change cc;
  cc.op = static_cast<conf_op>(op);
  cc.node = 0;
  for (int i = 0; i < 8; ++i)
    cc.node |= static_cast<uint64_t>(static_cast<uint8_t>(data[1 + i]))
               << (8 * i);
  if (cc.node == no_node)
    return std::nullopt;
  return cc;
}

namespace {

bool contains(const std::vector<node_id>& xs, node_id id) {
  return std::binary_search(xs.begin(), xs.end(), id);
}

void insert_sorted(std::vector<node_id>& xs, node_id id) {
  xs.insert(std::lower_bound(xs.begin(), xs.end(), id), id);
}

void erase_sorted(std::vector<node_id>& xs, node_id id) {
  auto i = std::lower_bound(xs.begin(), xs.end(), id);
  if (i != xs.end() && *i == id)
    xs.erase(i);
}

} // namespace

bool conf_state::is_voter(node_id id) const {
  return contains(voters, id);
}

bool conf_state::is_learner(node_id id) const {
  return contains(learners, id);
}

bool conf_state::apply(const conf_change& cc) {
  switch (cc.op) {
    case conf_op::add_voter:
      if (is_voter(cc.node))
        return false;
      erase_sorted(learners, cc.node);
      insert_sorted(voters, cc.node);
      return true;
    case conf_op::add_learner:
      if (is_member(cc.node))
        return false;
      insert_sorted(learners, cc.node);
      return true;
    case conf_op::remove:
      if (!is_member(cc.node))
        return false;
      erase_sorted(voters, cc.node);
      erase_sorted(learners, cc.node);
      return true;
  }
  return false;
}

bool operator==(const conf_state& x, const conf_state& y) {
  return x.voters == y.voters && x.learners == y.learners;
}

const char* to_string(message_type t) {
  switch (t) {
    case message_type::append: return "app";
    case message_type::append_resp: return "app_resp";
    case message_type::heartbeat: return "hb";
    case message_type::heartbeat_resp: return "hb_resp";
    case message_type::vote: return "vote";
    case message_type::vote_resp: return "vote_resp";
    case message_type::pre_vote: return "pre_vote";
    case message_type::pre_vote_resp: return "pre_vote_resp";
    case message_type::snapshot: return "snap";
    case message_type::timeout_now: return "timeout_now";
  }
  return "?";
}

} // namespace cxesdb::actors::raft
