#include "stores/codec.hpp"

#include "actors/assert.hpp"
#include "actors/byte_codec.hpp"

#include <cstdint>

namespace cxesdb::stores {

namespace {

constexpr uint8_t format_version = 1;

enum tag : uint8_t {
  tag_append = 1,
  tag_record_snapshot,
  tag_delete_snapshot,
  tag_save_subscription,
  tag_checkpoint,
  tag_remove_subscription,
  tag_noop,
  tag_delete_stream,
  tag_truncate_stream,
  tag_set_stream_metadata,
  tag_scavenge,
};

using writer = actors::byte_writer;
using reader = actors::byte_reader;

void put(writer& w, const snapshot_record& s) {
  w.str(s.source_uuid);
  w.str(s.stream_uuid);
  w.i64(s.version);
  w.str(s.source_type);
  w.str(s.data);
  w.str(s.metadata);
  w.i64(s.created_epoch_us);
}

bool get(reader& r, snapshot_record& s) {
  return r.str(s.source_uuid) && r.str(s.stream_uuid) && r.i64(s.version)
         && r.str(s.source_type) && r.str(s.data) && r.str(s.metadata)
         && r.i64(s.created_epoch_us);
}

void put(writer& w, const recorded_event& e) {
  w.str(e.stream_id);
  w.i64(e.event_number);
  w.i64(e.position);
  w.str(e.event_id);
  w.str(e.event_type);
  w.str(e.data);
  w.str(e.metadata);
  w.str(e.content_type);
  w.i64(e.created_epoch_us);
}

bool get(reader& r, recorded_event& e) {
  return r.str(e.stream_id) && r.i64(e.event_number) && r.i64(e.position)
         && r.str(e.event_id) && r.str(e.event_type) && r.str(e.data)
         && r.str(e.metadata) && r.str(e.content_type)
         && r.i64(e.created_epoch_us);
}

void put(writer& w, const subscription_record& x) {
  w.str(x.name);
  w.str(x.type);
  w.str(x.selector);
  w.i64(x.checkpoint);
}

bool get(reader& r, subscription_record& x) {
  return r.str(x.name) && r.str(x.type) && r.str(x.selector)
         && r.i64(x.checkpoint);
}

void put(writer& w, const std::string& x) {
  w.str(x);
}

bool get(reader& r, std::string& x) {
  return r.str(x);
}

template <class T>
void put_all(writer& w, const std::vector<T>& xs) {
  w.u64(xs.size());
  for (auto& x : xs)
    put(w, x);
}

/// Reads a vector written by `put_all`; every element takes at least one
/// byte, so a count beyond the bytes left is corrupt. Elements are added as
/// they decode, never allocated up front from the count: hostile bytes from
/// a peer cannot make the node allocate many times their size.
template <class T>
bool get_all(reader& r, std::vector<T>& xs) {
  uint64_t n = 0;
  if (!r.u64(n) || n > r.remaining())
    return false;
  xs.clear();
  for (uint64_t i = 0; i < n; ++i) {
    T x;
    if (!get(r, x))
      return false;
    xs.push_back(std::move(x));
  }
  return true;
}

enum query_tag : uint8_t {
  q_read_stream = 1,
  q_stream_version,
  q_list_streams,
  q_read_all,
  q_read_snapshot,
  q_list_snapshots,
  q_list_subscriptions,
  q_stream_metadata,
  q_store_figures,
};

void put(writer& w, const stream_metadata& m) {
  w.i64(m.max_count);
  w.i64(m.max_age_s);
  w.str(m.custom);
}

bool get(reader& r, stream_metadata& m) {
  return r.i64(m.max_count) && r.i64(m.max_age_s) && r.str(m.custom);
}

constexpr auto result_code_last
  = static_cast<uint8_t>(result_code::stream_deleted);

} // namespace

std::string encode(const command& cmd) {
  writer w;
  w.u8(format_version);
  if (auto x = std::get_if<append_cmd>(&cmd)) {
    w.u8(tag_append);
    w.str(x->stream);
    w.u8(x->expected.kind);
    w.i64(x->expected.value);
    w.i64(x->created_epoch_us);
    w.i64(static_cast<int64_t>(x->events.size()));
    for (auto& e : x->events) {
      w.str(e.event_id);
      w.str(e.event_type);
      w.str(e.data);
      w.str(e.metadata);
      w.str(e.content_type);
    }
  } else if (auto y = std::get_if<record_snapshot_cmd>(&cmd)) {
    w.u8(tag_record_snapshot);
    put(w, y->snapshot);
  } else if (auto z = std::get_if<delete_snapshot_cmd>(&cmd)) {
    w.u8(tag_delete_snapshot);
    w.str(z->source_uuid);
    w.str(z->stream_uuid);
    w.i64(z->version);
  } else if (auto a = std::get_if<save_subscription_cmd>(&cmd)) {
    w.u8(tag_save_subscription);
    w.str(a->name);
    w.str(a->type);
    w.str(a->selector);
    w.u8(a->start.kind);
    w.i64(a->start.value);
  } else if (auto b = std::get_if<checkpoint_cmd>(&cmd)) {
    w.u8(tag_checkpoint);
    w.str(b->name);
    w.i64(b->checkpoint);
  } else if (std::holds_alternative<noop_cmd>(cmd)) {
    w.u8(tag_noop);
  } else if (auto d = std::get_if<delete_stream_cmd>(&cmd)) {
    w.u8(tag_delete_stream);
    w.str(d->stream);
    w.u8(d->expected.kind);
    w.i64(d->expected.value);
    w.u8(d->hard);
  } else if (auto t = std::get_if<truncate_stream_cmd>(&cmd)) {
    w.u8(tag_truncate_stream);
    w.str(t->stream);
    w.i64(t->before);
  } else if (auto g = std::get_if<scavenge_cmd>(&cmd)) {
    w.u8(tag_scavenge);
    w.i64(g->rows_max);
    w.i64(g->pages_max);
    w.u8(g->expire);
    w.i64(g->now_epoch_us);
  } else if (auto m = std::get_if<set_stream_metadata_cmd>(&cmd)) {
    w.u8(tag_set_stream_metadata);
    w.str(m->stream);
    put(w, m->metadata);
    w.i64(m->now_epoch_us);
  } else {
    auto& c = std::get<remove_subscription_cmd>(cmd);
    w.u8(tag_remove_subscription);
    w.str(c.name);
    w.str(c.type);
    w.str(c.selector);
  }
  return w.take();
}

std::optional<command> decode(const std::string& bytes) {
  reader r{bytes};
  uint8_t version = 0;
  uint8_t t = 0;
  if (!r.u8(version) || version != format_version || !r.u8(t))
    return std::nullopt;
  switch (t) {
    case tag_append: {
      append_cmd x;
      uint8_t kind = 0;
      int64_t n = 0;
      if (!r.str(x.stream) || !r.u8(kind) || kind > expected_version::exact
          || !r.i64(x.expected.value) || !r.i64(x.created_epoch_us)
          || !r.i64(n) || n < 0
          || static_cast<uint64_t>(n) > limits::batch_events_max)
        return std::nullopt;
      x.expected.kind = static_cast<expected_version::kind_t>(kind);
      x.events.resize(static_cast<size_t>(n));
      for (auto& e : x.events)
        if (!r.str(e.event_id) || !r.str(e.event_type) || !r.str(e.data)
            || !r.str(e.metadata) || !r.str(e.content_type))
          return std::nullopt;
      if (!r.done())
        return std::nullopt;
      return command{std::move(x)};
    }
    case tag_record_snapshot: {
      record_snapshot_cmd y;
      if (!get(r, y.snapshot) || !r.done())
        return std::nullopt;
      return command{std::move(y)};
    }
    case tag_delete_snapshot: {
      delete_snapshot_cmd z;
      if (!r.str(z.source_uuid) || !r.str(z.stream_uuid) || !r.i64(z.version)
          || !r.done())
        return std::nullopt;
      return command{std::move(z)};
    }
    case tag_save_subscription: {
      save_subscription_cmd a;
      uint8_t kind = 0;
      if (!r.str(a.name) || !r.str(a.type) || !r.str(a.selector)
          || !r.u8(kind) || kind > start_from::position
          || !r.i64(a.start.value) || !r.done())
        return std::nullopt;
      a.start.kind = static_cast<start_from::kind_t>(kind);
      return command{std::move(a)};
    }
    case tag_checkpoint: {
      checkpoint_cmd b;
      if (!r.str(b.name) || !r.i64(b.checkpoint) || !r.done())
        return std::nullopt;
      return command{std::move(b)};
    }
    case tag_remove_subscription: {
      remove_subscription_cmd c;
      if (!r.str(c.name) || !r.str(c.type) || !r.str(c.selector) || !r.done())
        return std::nullopt;
      return command{std::move(c)};
    }
    case tag_noop:
      if (!r.done())
        return std::nullopt;
      return command{noop_cmd{}};
    case tag_delete_stream: {
      delete_stream_cmd d;
      uint8_t kind = 0;
      uint8_t hard = 0;
      if (!r.str(d.stream) || !r.u8(kind) || kind > expected_version::exact
          || !r.i64(d.expected.value) || !r.u8(hard) || hard > 1 || !r.done())
        return std::nullopt;
      d.expected.kind = static_cast<expected_version::kind_t>(kind);
      d.hard = hard != 0;
      return command{std::move(d)};
    }
    case tag_truncate_stream: {
      truncate_stream_cmd t;
      if (!r.str(t.stream) || !r.i64(t.before) || t.before < 0 || !r.done())
        return std::nullopt;
      return command{std::move(t)};
    }
    case tag_scavenge: {
      scavenge_cmd g;
      uint8_t expire = 0;
      if (!r.i64(g.rows_max) || !r.i64(g.pages_max) || !r.u8(expire)
          || expire > 1 || !r.i64(g.now_epoch_us) || g.rows_max < 0
          || g.pages_max < 0 || !r.done())
        return std::nullopt;
      g.expire = expire != 0;
      return command{g};
    }
    case tag_set_stream_metadata: {
      set_stream_metadata_cmd m;
      if (!r.str(m.stream) || !get(r, m.metadata) || !r.i64(m.now_epoch_us)
          || m.metadata.max_count < 0 || m.metadata.max_age_s < 0 || !r.done())
        return std::nullopt;
      return command{std::move(m)};
    }
    default:
      return std::nullopt;
  }
}

std::string encode(const query& q) {
  writer w;
  w.u8(format_version);
  if (auto a = std::get_if<read_stream_query>(&q)) {
    w.u8(q_read_stream);
    w.str(a->stream);
    w.i64(a->start);
    w.i64(a->count);
    w.u8(a->backward);
    w.i64(a->now_epoch_us);
  } else if (auto b = std::get_if<stream_version_query>(&q)) {
    w.u8(q_stream_version);
    w.str(b->stream);
  } else if (auto c = std::get_if<list_streams_query>(&q)) {
    w.u8(q_list_streams);
    w.u8(c->has_after);
    w.str(c->after);
    w.i64(c->limit);
  } else if (auto d = std::get_if<read_all_query>(&q)) {
    w.u8(q_read_all);
    w.i64(d->from);
    w.i64(d->count);
    w.u8(d->backward);
    w.str(d->stream);
    w.i64(d->now_epoch_us);
  } else if (auto e = std::get_if<read_snapshot_query>(&q)) {
    w.u8(q_read_snapshot);
    w.str(e->source_uuid);
    w.str(e->stream_uuid);
    w.i64(e->version);
  } else if (auto f = std::get_if<list_snapshots_query>(&q)) {
    w.u8(q_list_snapshots);
    w.str(f->source_uuid);
    w.str(f->stream_uuid);
  } else if (auto g = std::get_if<stream_metadata_query>(&q)) {
    w.u8(q_stream_metadata);
    w.str(g->stream);
  } else if (std::holds_alternative<store_figures_query>(q)) {
    w.u8(q_store_figures);
  } else {
    CXESDB_ASSERT(std::holds_alternative<list_subscriptions_query>(q));
    w.u8(q_list_subscriptions);
  }
  return w.take();
}

std::optional<query> decode_query(const std::string& bytes) {
  reader r{bytes};
  uint8_t version = 0;
  uint8_t t = 0;
  uint8_t flag = 0;
  if (!r.u8(version) || version != format_version || !r.u8(t))
    return std::nullopt;
  std::optional<query> out;
  switch (t) {
    case q_read_stream: {
      read_stream_query a;
      if (r.str(a.stream) && r.i64(a.start) && r.i64(a.count) && r.u8(flag)
          && r.i64(a.now_epoch_us)) {
        a.backward = flag != 0;
        out = std::move(a);
      }
      break;
    }
    case q_stream_version: {
      stream_version_query b;
      if (r.str(b.stream))
        out = std::move(b);
      break;
    }
    case q_list_streams: {
      list_streams_query c;
      if (r.u8(flag) && r.str(c.after) && r.i64(c.limit)) {
        c.has_after = flag != 0;
        out = std::move(c);
      }
      break;
    }
    case q_read_all: {
      read_all_query d;
      if (r.i64(d.from) && r.i64(d.count) && r.u8(flag) && r.str(d.stream)
          && r.i64(d.now_epoch_us)) {
        d.backward = flag != 0;
        out = std::move(d);
      }
      break;
    }
    case q_read_snapshot: {
      read_snapshot_query e;
      if (r.str(e.source_uuid) && r.str(e.stream_uuid) && r.i64(e.version))
        out = std::move(e);
      break;
    }
    case q_list_snapshots: {
      list_snapshots_query f;
      if (r.str(f.source_uuid) && r.str(f.stream_uuid))
        out = std::move(f);
      break;
    }
    case q_list_subscriptions:
      out = list_subscriptions_query{};
      break;
    case q_stream_metadata: {
      stream_metadata_query g;
      if (r.str(g.stream))
        out = std::move(g);
      break;
    }
    case q_store_figures:
      out = store_figures_query{};
      break;
    default:
      break;
  }
  if (!out || !r.done())
    return std::nullopt;
  return out;
}

std::string encode(const command_result& x) {
  writer w;
  w.u8(format_version);
  w.u8(static_cast<uint8_t>(x.code));
  w.i64(x.version);
  w.i64(x.position);
  w.i64(x.current_version);
  w.i64(x.checkpoint);
  w.i64(x.appended);
  w.i64(x.first);
  w.i64(x.removed);
  w.i64(x.reclaimed_bytes);
  w.u8(x.more);
  w.str(x.message);
  return w.take();
}

std::optional<command_result> decode_command_result(const std::string& bytes) {
  reader r{bytes};
  uint8_t version = 0;
  uint8_t code = 0;
  uint8_t more = 0;
  command_result x;
  if (!r.u8(version) || version != format_version || !r.u8(code)
      || code > result_code_last || !r.i64(x.version) || !r.i64(x.position)
      || !r.i64(x.current_version) || !r.i64(x.checkpoint)
      || !r.i64(x.appended) || !r.i64(x.first) || !r.i64(x.removed)
      || !r.i64(x.reclaimed_bytes) || !r.u8(more) || more > 1
      || !r.str(x.message)
      || !r.done())
    return std::nullopt;
  x.code = static_cast<result_code>(code);
  x.more = more != 0;
  return x;
}

std::string encode(const query_result& x) {
  writer w;
  w.u8(format_version);
  w.u8(static_cast<uint8_t>(x.code));
  put_all(w, x.events);
  put_all(w, x.streams);
  w.u64(x.snapshots.size());
  for (auto& s : x.snapshots)
    put(w, s);
  put_all(w, x.subscriptions);
  put(w, x.metadata);
  w.i64(x.version);
  w.i64(x.head_position);
  w.u8(x.has_next);
  w.i64(x.next_position);
  w.str(x.next_after);
  w.str(x.message);
  // Only a store_figures_query's result carries figures (a store's
  // applied index is never 0 once it answers reads), so the results of the
  // other queries keep the bytes an older node reads.
  if (x.figures.applied_index != 0) {
    w.i64(x.figures.events);
    w.i64(x.figures.streams);
    w.i64(x.figures.bytes);
    w.i64(x.figures.applied_index);
  }
  return w.take();
}

std::optional<query_result> decode_query_result(const std::string& bytes) {
  reader r{bytes};
  uint8_t version = 0;
  uint8_t code = 0;
  uint8_t has_next = 0;
  uint64_t snapshots = 0;
  query_result x;
  if (!r.u8(version) || version != format_version || !r.u8(code)
      || code > result_code_last || !get_all(r, x.events)
      || !get_all(r, x.streams) || !r.u64(snapshots)
      || snapshots > r.remaining())
    return std::nullopt;
  x.snapshots.resize(snapshots);
  for (auto& s : x.snapshots)
    if (!get(r, s))
      return std::nullopt;
  if (!get_all(r, x.subscriptions) || !get(r, x.metadata)
      || !r.i64(x.version) || !r.i64(x.head_position) || !r.u8(has_next) || !r.i64(x.next_position)
      || !r.str(x.next_after) || !r.str(x.message))
    return std::nullopt;
  if (!r.done()
      && (!r.i64(x.figures.events) || !r.i64(x.figures.streams)
          || !r.i64(x.figures.bytes) || !r.i64(x.figures.applied_index)
          || x.figures.applied_index == 0 || !r.done()))
    return std::nullopt;
  x.code = static_cast<result_code>(code);
  x.has_next = has_next != 0;
  return x;
}

} // namespace cxesdb::stores
