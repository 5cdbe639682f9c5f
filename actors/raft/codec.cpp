#include "actors/raft/codec.hpp"

#include <utility>

#include "actors/byte_codec.hpp"

namespace cxesdb::actors::raft {

namespace {

using writer = actors::byte_writer;
using reader = actors::byte_reader;

void put_ids(writer& w, const std::vector<node_id>& xs) {
  w.u64(xs.size());
  for (auto x : xs)
    w.u64(x);
}

bool get_ids(reader& r, std::vector<node_id>& xs) {
  uint64_t n = 0;
  if (!r.u64(n) || n > (1u << 16))
    return false;
  xs.resize(n);
  for (auto& x : xs)
    if (!r.u64(x))
      return false;
  return true;
}

void put_conf(writer& w, const conf_state& c) {
  put_ids(w, c.voters);
  put_ids(w, c.learners);
}

bool get_conf(reader& r, conf_state& c) {
  return get_ids(r, c.voters) && get_ids(r, c.learners);
}

} // namespace

std::string encode(const message& m) {
  writer w;
  w.u8(static_cast<uint8_t>(m.type));
  w.u64(m.from);
  w.u64(m.to);
  w.u64(m.term);
  w.u64(m.log_term);
  w.u64(m.index);
  w.u64(m.commit);
  w.u8(m.reject ? 1 : 0);
  w.u64(m.reject_hint);
  w.u64(m.context);
  w.u64(m.entries.size());
  for (auto& e : m.entries) {
    w.u64(e.index);
    w.u64(e.term);
    w.u8(static_cast<uint8_t>(e.type));
    w.str(e.data);
  }
  w.u8(m.snap ? 1 : 0);
  if (m.snap) {
    w.u64(m.snap->meta.index);
    w.u64(m.snap->meta.term);
    put_conf(w, m.snap->meta.conf);
    w.str(m.snap->data);
  }
  return w.take();
}

std::optional<message> decode_message(const std::string& bytes) {
  reader r{bytes};
  message m;
  uint8_t type = 0;
  uint8_t reject = 0;
  uint64_t n = 0;
  if (!r.u8(type) || type > static_cast<uint8_t>(message_type::timeout_now))
    return std::nullopt;
  m.type = static_cast<message_type>(type);
  if (!r.u64(m.from) || !r.u64(m.to) || !r.u64(m.term) || !r.u64(m.log_term)
      || !r.u64(m.index) || !r.u64(m.commit) || !r.u8(reject)
      || !r.u64(m.reject_hint) || !r.u64(m.context) || !r.u64(n))
    return std::nullopt;
  m.reject = reject != 0;
  // An entry takes at least 25 bytes (index, term, type, data length); the
  // entries are added as they decode, never allocated up front from a
  // peer's count.
  constexpr uint64_t entry_bytes_min = 8 + 8 + 1 + 8;
  if (n > r.remaining() / entry_bytes_min)
    return std::nullopt;
  for (uint64_t i = 0; i < n; ++i) {
    entry e;
    uint8_t t = 0;
    if (!r.u64(e.index) || !r.u64(e.term) || !r.u8(t) || t > 2
        || !r.str(e.data))
      return std::nullopt;
    e.type = static_cast<entry_type>(t);
    m.entries.push_back(std::move(e));
  }
  uint8_t has_snap = 0;
  if (!r.u8(has_snap))
    return std::nullopt;
  if (has_snap) {
    snapshot s;
    if (!r.u64(s.meta.index) || !r.u64(s.meta.term) || !get_conf(r, s.meta.conf)
        || !r.str(s.data))
      return std::nullopt;
    m.snap = std::make_shared<const snapshot>(std::move(s));
  }
  if (!r.done())
    return std::nullopt;
  return m;
}

std::string encode(const conf_state& c) {
  writer w;
  put_conf(w, c);
  return w.take();
}

std::optional<conf_state> decode_conf_state(const std::string& bytes) {
  reader r{bytes};
  conf_state c;
  if (!get_conf(r, c) || !r.done())
    return std::nullopt;
  return c;
}

} // namespace cxesdb::actors::raft
