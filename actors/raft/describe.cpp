#include "actors/raft/describe.hpp"

namespace cxesdb::actors::raft {

std::string describe(const entry& e) {
  std::string out = std::to_string(e.index) + "/" + std::to_string(e.term);
  switch (e.type) {
    case entry_type::normal:
      if (!e.data.empty())
        out += " " + e.data;
      break;
    case entry_type::no_op:
      out += " noop";
      break;
    case entry_type::conf_change:
      if (auto cc = decode_conf_change(e.data)) {
        const char* op = cc->op == conf_op::add_voter     ? "add_voter"
                         : cc->op == conf_op::add_learner ? "add_learner"
                                                          : "remove";
        out += " conf:" + std::string{op} + "(" + std::to_string(cc->node)
               + ")";
      } else {
        out += " conf:?";
      }
      break;
  }
  return out;
}

std::string describe(const message& m) {
  std::string out = std::to_string(m.from) + "->" + std::to_string(m.to) + " "
                    + to_string(m.type) + " term=" + std::to_string(m.term);
  switch (m.type) {
    case message_type::append:
      out += " prev=" + std::to_string(m.index) + "/"
             + std::to_string(m.log_term) + " commit="
             + std::to_string(m.commit);
      if (!m.entries.empty()) {
        out += " [";
        for (size_t i = 0; i < m.entries.size(); ++i)
          out += (i ? ", " : "") + describe(m.entries[i]);
        out += "]";
      }
      break;
    case message_type::append_resp:
      out += " index=" + std::to_string(m.index);
      if (m.reject)
        out += " rejected hint=" + std::to_string(m.reject_hint) + "/"
               + std::to_string(m.log_term);
      break;
    case message_type::heartbeat:
      out += " commit=" + std::to_string(m.commit);
      if (m.context)
        out += " ctx=" + std::to_string(m.context);
      break;
    case message_type::heartbeat_resp:
      if (m.context)
        out += " ctx=" + std::to_string(m.context);
      break;
    case message_type::vote:
    case message_type::pre_vote:
      out += " last=" + std::to_string(m.index) + "/"
             + std::to_string(m.log_term);
      if (m.context == transfer_context)
        out += " transfer";
      break;
    case message_type::vote_resp:
    case message_type::pre_vote_resp:
      out += m.reject ? " rejected" : " granted";
      break;
    case message_type::snapshot:
      if (m.snap) {
        out += " snap=" + std::to_string(m.snap->meta.index) + "/"
               + std::to_string(m.snap->meta.term) + " voters=";
        for (size_t i = 0; i < m.snap->meta.conf.voters.size(); ++i)
          out += (i ? "," : "") + std::to_string(m.snap->meta.conf.voters[i]);
        if (!m.snap->meta.conf.learners.empty()) {
          out += " learners=";
          for (size_t i = 0; i < m.snap->meta.conf.learners.size(); ++i)
            out += (i ? "," : "")
                   + std::to_string(m.snap->meta.conf.learners[i]);
        }
      }
      break;
    case message_type::timeout_now:
      break;
  }
  return out;
}

} // namespace cxesdb::actors::raft
