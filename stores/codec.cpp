#include "stores/codec.hpp"

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
    default:
      return std::nullopt;
  }
}

} // namespace cxesdb::stores
