#include "actors/raft/node_log.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <future>

#include "actors/assert.hpp"
#include "actors/byte_codec.hpp"
#include "actors/raft/codec.hpp"
#include "actors/raft/crc32c.hpp"

namespace cxesdb::actors::raft {

namespace {

constexpr size_t header_bytes = 8; // crc32c, length
constexpr uint8_t kind_save = 1;
constexpr uint8_t kind_forget = 2;
constexpr uint8_t flag_snap = 1;
constexpr uint8_t flag_replace = 2; // drop every entry first
constexpr uint8_t flag_hard = 4;

/// One decoded record.
struct record {
  uint8_t kind = 0;
  std::string group;
  uint8_t flags = 0;
  snapshot snap;
  hard_state hard;
  std::vector<entry> entries;
};

void put_u32(std::string& out, uint32_t x) {
  for (int i = 0; i < 4; ++i)
    out.push_back(static_cast<char>((x >> (8 * i)) & 0xFFu));
}

uint32_t get_u32(const char* p) {
  uint32_t x = 0;
  for (int i = 0; i < 4; ++i)
    x |= static_cast<uint32_t>(static_cast<unsigned char>(p[i])) << (8 * i);
  return x;
}

/// Appends a framed record to `out`; returns where it starts.
size_t frame(std::string& out, const std::string& payload) {
  auto at = out.size();
  put_u32(out, crc32c(payload.data(), payload.size()));
  put_u32(out, static_cast<uint32_t>(payload.size()));
  out += payload;
  return at;
}

std::string encode_save(const std::string& group, const ready& rd,
                        bool replace) {
  actors::byte_writer w;
  w.u8(kind_save);
  w.str(group);
  uint8_t flags = (rd.snap ? flag_snap : 0)
                  | (replace || (rd.snap && rd.snap_install) ? flag_replace : 0)
                  | (rd.hard ? flag_hard : 0);
  w.u8(flags);
  if (rd.snap) {
    w.u64(rd.snap->meta.index);
    w.u64(rd.snap->meta.term);
    w.str(encode(rd.snap->meta.conf));
    w.str(rd.snap->data);
  }
  if (rd.hard) {
    w.u64(rd.hard->term);
    w.u64(rd.hard->vote);
    w.u64(rd.hard->commit);
  }
  w.u64(rd.entries.size());
  for (auto& e : rd.entries) {
    w.u64(e.index);
    w.u64(e.term);
    w.u8(static_cast<uint8_t>(e.type));
    w.str(e.data);
  }
  return w.take();
}

std::string encode_forget(const std::string& group) {
  actors::byte_writer w;
  w.u8(kind_forget);
  w.str(group);
  return w.take();
}

std::optional<record> decode_record(const std::string& payload) {
  actors::byte_reader r{payload};
  record rec;
  if (!r.u8(rec.kind) || !r.str(rec.group) || rec.group.empty())
    return std::nullopt;
  if (rec.kind == kind_forget)
    return r.done() ? std::optional<record>{std::move(rec)} : std::nullopt;
  if (rec.kind != kind_save || !r.u8(rec.flags) || rec.flags > 7)
    return std::nullopt;
  if (rec.flags & flag_snap) {
    std::string conf;
    if (!r.u64(rec.snap.meta.index) || !r.u64(rec.snap.meta.term)
        || !r.str(conf) || !r.str(rec.snap.data))
      return std::nullopt;
    auto c = decode_conf_state(conf);
    if (!c)
      return std::nullopt;
    rec.snap.meta.conf = std::move(*c);
  }
  if ((rec.flags & flag_hard)
      && (!r.u64(rec.hard.term) || !r.u64(rec.hard.vote)
          || !r.u64(rec.hard.commit)))
    return std::nullopt;
  uint64_t n = 0;
  if (!r.u64(n) || n > payload.size())
    return std::nullopt;
  rec.entries.resize(n);
  for (auto& e : rec.entries) {
    uint8_t t = 0;
    if (!r.u64(e.index) || !r.u64(e.term) || !r.u8(t) || t > 2
        || !r.str(e.data))
      return std::nullopt;
    e.type = static_cast<entry_type>(t);
  }
  for (size_t i = 1; i < rec.entries.size(); ++i)
    if (rec.entries[i].index != rec.entries[i - 1].index + 1)
      return std::nullopt;
  if (!r.done())
    return std::nullopt;
  return rec;
}

/// Applies a save record's entries to a group's state; false on a gap.
bool apply_entries(initial_state& st, std::vector<entry> entries) {
  auto snap_index = st.snap.meta.index;
  entries.erase(std::remove_if(entries.begin(), entries.end(),
                               [&](const entry& e) {
                                 return e.index <= snap_index;
                               }),
                entries.end());
  if (entries.empty())
    return true;
  auto first = entries.front().index;
  while (!st.entries.empty() && st.entries.back().index >= first)
    st.entries.pop_back();
  auto expected = st.entries.empty() ? snap_index + 1
                                     : st.entries.back().index + 1;
  if (first != expected)
    return false;
  for (auto& e : entries)
    st.entries.push_back(std::move(e));
  return true;
}

/// Applies a whole save record to a group's state; false on a gap.
bool apply_save(initial_state& st, record& rec) {
  if (rec.flags & flag_replace)
    st.entries.clear();
  if (rec.flags & flag_snap) {
    st.snap = std::move(rec.snap);
    auto idx = st.snap.meta.index;
    st.entries.erase(std::remove_if(st.entries.begin(), st.entries.end(),
                                    [&](const entry& e) {
                                      return e.index <= idx;
                                    }),
                     st.entries.end());
    if (!st.entries.empty() && st.entries.front().index != idx + 1)
      st.entries.clear(); // the snapshot is past the log: it replaces it
  }
  if (rec.flags & flag_hard)
    st.hard = rec.hard;
  return apply_entries(st, std::move(rec.entries));
}

std::optional<std::string> sync_dir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0)
    return "cannot open " + dir + ": " + std::strerror(errno);
  auto rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0)
    return "cannot sync " + dir + ": " + std::strerror(errno);
  return std::nullopt;
}

bool read_exact(int fd, std::string& buf, size_t n, uint64_t offset) {
  buf.resize(n);
  size_t done = 0;
  while (done < n) {
    auto r = ::pread(fd, buf.data() + done, n - done,
                     static_cast<off_t>(offset + done));
    if (r <= 0)
      return false;
    done += static_cast<size_t>(r);
  }
  return true;
}

} // namespace

/// A record with entries of one group: where it is, which indexes.
struct node_log::location {
  uint64_t seq = 0;
  uint64_t offset = 0; ///< of the record's header
  uint64_t bytes = 0;  ///< header and payload
  uint64_t first = 0;
  uint64_t last = 0;
};

/// What the writer knows of a group without reading its entries.
struct node_log::group_meta {
  hard_state hard;
  snapshot snap;
  /// Records holding its live entries, in log order (a later one may
  /// replace part of an earlier one).
  std::vector<location> locs;
};

/// A unit of the writer thread's work.
struct node_log::op {
  enum class kind { save, forget, load, flush } k = kind::save;
  std::string group;
  std::shared_ptr<const ready> rd;
  done_fn done;
  load_fn loaded;
};

node_log::node_log(node_log_config cfg) : cfg_(std::move(cfg)) {
}

std::string node_log::segment_path(uint64_t seq) const {
  char name[32];
  std::snprintf(name, sizeof(name), "%020llu.seg",
                static_cast<unsigned long long>(seq));
  return cfg_.dir + "/" + name;
}

std::unique_ptr<node_log> node_log::open(node_log_config cfg,
                                         std::string& err) {
  CXESDB_ASSERT(cfg.segment_bytes > 0);
  std::error_code ec;
  std::filesystem::create_directories(cfg.dir, ec);
  if (ec) {
    err = "cannot create " + cfg.dir + ": " + ec.message();
    return nullptr;
  }
  std::unique_ptr<node_log> log{new node_log(std::move(cfg))};
  if (auto e = log->read_all()) {
    err = *e;
    return nullptr;
  }
  log->writer_ = std::thread([p = log.get()] { p->run(); });
  return log;
}

// read_all: called once by open, before the writer thread starts. Reads
// every segment in order into the groups' states; cuts a torn tail of the
// last one; opens (or creates) the last one for appending.
std::optional<std::string> node_log::read_all() {
  std::vector<uint64_t> seqs;
  std::error_code ec;
  for (auto& f : std::filesystem::directory_iterator(cfg_.dir, ec)) {
    auto name = f.path().filename().string();
    auto digits = name.substr(0, 20);
    bool numbered = name.size() == 24 && name.substr(20) == ".seg"
                    && std::all_of(digits.begin(), digits.end(), [](char c) {
                         return c >= '0' && c <= '9';
                       });
    if (numbered)
      seqs.push_back(std::stoull(digits));
    else if (name.size() == 24 && name.substr(20) == ".seg")
      return "a file that is not a segment in " + cfg_.dir + ": " + name;
    else if (name.size() > 4 && name.substr(name.size() - 4) == ".tmp")
      std::filesystem::remove(f.path(), ec); // an unfinished roll
  }
  if (ec)
    return "cannot list " + cfg_.dir + ": " + ec.message();
  std::sort(seqs.begin(), seqs.end());
  if (seqs.empty())
    seqs.push_back(1);
  // The groups' states, only to check that every record continues its log.
  std::map<std::string, initial_state> states;
  for (size_t i = 0; i < seqs.size(); ++i) {
    auto seq = seqs[i];
    bool last = i + 1 == seqs.size();
    auto path = segment_path(seq);
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT, 0644);
    if (fd < 0)
      return "cannot open " + path + ": " + std::strerror(errno);
    struct stat sb {};
    ::fstat(fd, &sb);
    auto file_bytes = static_cast<uint64_t>(sb.st_size);
    uint64_t at = 0;
    std::string head;
    std::string payload;
    while (at < file_bytes) {
      bool have_head = file_bytes - at >= header_bytes
                       && read_exact(fd, head, header_bytes, at);
      bool ok = have_head;
      uint32_t crc = ok ? get_u32(head.data()) : 0;
      uint64_t len = ok ? get_u32(head.data() + 4) : 0;
      ok = ok && len <= cfg_.record_bytes_max
           && len <= file_bytes - at - header_bytes
           && read_exact(fd, payload, len, at + header_bytes)
           && crc32c(payload.data(), payload.size()) == crc;
      std::optional<record> rec;
      if (ok)
        rec = decode_record(payload);
      // A record whose length fits, followed by a good record, was damaged
      // after it was written: not a torn tail.
      auto next = at + header_bytes + len;
      bool followed = false;
      if (!rec && have_head && len <= file_bytes - at
          && next + header_bytes <= file_bytes) {
        std::string nhead;
        std::string npayload;
        if (read_exact(fd, nhead, header_bytes, next)) {
          uint64_t nlen = get_u32(nhead.data() + 4);
          followed = nlen <= file_bytes - next - header_bytes
                     && read_exact(fd, npayload, nlen, next + header_bytes)
                     && crc32c(npayload.data(), npayload.size())
                          == get_u32(nhead.data())
                     && decode_record(npayload).has_value();
        }
      }
      if (!rec && followed) {
        ::close(fd);
        return "corrupt record in " + path + " at offset " + std::to_string(at)
               + ", followed by good ones: the segment was damaged";
      }
      if (!rec) {
        if (!last) {
          ::close(fd);
          return "corrupt record in " + path + " at offset "
                 + std::to_string(at) + " (not the last segment)";
        }
        // A write cut short by a crash: nothing after it was acknowledged.
        figures_.torn_bytes = file_bytes - at;
        if (::ftruncate(fd, static_cast<off_t>(at)) != 0
            || ::fdatasync(fd) != 0) {
          ::close(fd);
          return "cannot truncate " + path + ": " + std::strerror(errno);
        }
        file_bytes = at;
        break;
      }
      auto bytes = header_bytes + len;
      if (rec->kind == kind_forget) {
        groups_.erase(rec->group);
        states.erase(rec->group);
      } else {
        auto& st = states[rec->group];
        auto& g = groups_[rec->group];
        if (rec->flags & flag_replace)
          g.locs.clear();
        if (!rec->entries.empty()) {
          auto first = rec->entries.front().index;
          g.locs.erase(std::remove_if(g.locs.begin(), g.locs.end(),
                                      [&](const location& l) {
                                        return l.first >= first;
                                      }),
                       g.locs.end());
          g.locs.push_back(location{seq, at, bytes, first,
                                    rec->entries.back().index});
        }
        if (!apply_save(st, *rec)) {
          ::close(fd);
          return "gap in the entries of group " + rec->group + " in " + path
                 + " at offset " + std::to_string(at);
        }
        g.hard = st.hard;
        g.snap = st.snap;
        auto idx = g.snap.meta.index;
        g.locs.erase(std::remove_if(g.locs.begin(), g.locs.end(),
                                    [&](const location& l) {
                                      return l.last <= idx;
                                    }),
                     g.locs.end());
      }
      at += bytes;
    }
    if (last) {
      fd_ = fd;
      seq_ = seq;
      size_ = file_bytes;
    } else {
      ::close(fd);
      old_seqs_.push_back(seq);
      old_bytes_ += file_bytes;
    }
  }
  figures_.segments = old_seqs_.size() + 1;
  figures_.bytes = old_bytes_ + size_;
  figures_.groups = groups_.size();
  return std::nullopt;
}

node_log::~node_log() {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    stop_ = true;
  }
  cv_.notify_one();
  if (writer_.joinable())
    writer_.join();
  if (fd_ >= 0)
    ::close(fd_);
}

void node_log::enqueue(op o) {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    queue_.push_back(std::move(o));
  }
  cv_.notify_one();
}

void node_log::submit(const std::string& group,
                      std::shared_ptr<const ready> rd, done_fn done) {
  CXESDB_ASSERT(rd != nullptr && done != nullptr && !group.empty());
  op o;
  o.k = op::kind::save;
  o.group = group;
  o.rd = std::move(rd);
  o.done = std::move(done);
  enqueue(std::move(o));
}

void node_log::load(const std::string& group, load_fn done) {
  CXESDB_ASSERT(done != nullptr && !group.empty());
  op o;
  o.k = op::kind::load;
  o.group = group;
  o.loaded = std::move(done);
  enqueue(std::move(o));
}

void node_log::forget(const std::string& group, done_fn done) {
  CXESDB_ASSERT(done != nullptr && !group.empty());
  op o;
  o.k = op::kind::forget;
  o.group = group;
  o.done = std::move(done);
  enqueue(std::move(o));
}

void node_log::flush() {
  std::promise<void> p;
  op o;
  o.k = op::kind::flush;
  o.done = [&p](const std::optional<std::string>&) { p.set_value(); };
  enqueue(std::move(o));
  p.get_future().wait();
}

node_log_figures node_log::figures() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return figures_;
}

// run: the writer thread. Takes everything queued, writes it with one
// fdatasync, answers, and closes a full segment. Never holds the mutex
// while it writes.
void node_log::run() {
  std::unique_lock<std::mutex> lk{mtx_};
  for (;;) {
    cv_.wait(lk, [this] { return stop_ || !queue_.empty(); });
    if (queue_.empty())
      return; // stopping, nothing left
    std::vector<op> batch;
    batch.swap(queue_);
    lk.unlock();
    process(batch);
    if (!failed_ && size_ >= cfg_.segment_bytes)
      roll();
    lk.lock();
  }
}

std::optional<std::string> node_log::write_and_sync(const std::string& buf) {
  size_t done = 0;
  while (done < buf.size()) {
    auto w = ::pwrite(fd_, buf.data() + done, buf.size() - done,
                      static_cast<off_t>(size_ + done));
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return "cannot write " + segment_path(seq_) + ": "
             + std::strerror(errno);
    done += static_cast<size_t>(w);
  }
  if (::fdatasync(fd_) != 0)
    return "cannot sync " + segment_path(seq_) + ": " + std::strerror(errno);
  return std::nullopt;
}

// process: the records of a batch in queue order, written at once; a load
// or a flush first writes what is before it.
void node_log::process(std::vector<op>& batch) {
  std::string buf;
  std::vector<done_fn> waiting;
  struct pending_meta {
    std::string group;
    std::shared_ptr<const ready> rd;
    size_t at; // in buf
    size_t bytes;
    bool forget;
  };
  std::vector<pending_meta> metas;
  uint64_t records = 0;
  auto write_out = [&] {
    std::optional<std::string> err = failed_;
    if (!err && !buf.empty()) {
      err = write_and_sync(buf);
      if (err)
        failed_ = err;
    }
    if (!err) {
      for (auto& m : metas) {
        if (m.forget) {
          groups_.erase(m.group);
          continue;
        }
        auto& g = groups_[m.group];
        auto& rd = *m.rd;
        if (rd.snap) {
          if (rd.snap_install)
            g.locs.clear();
          g.snap = *rd.snap;
          auto idx = g.snap.meta.index;
          g.locs.erase(std::remove_if(g.locs.begin(), g.locs.end(),
                                      [&](const location& l) {
                                        return l.last <= idx;
                                      }),
                       g.locs.end());
        }
        if (!rd.entries.empty()) {
          auto first = rd.entries.front().index;
          g.locs.erase(std::remove_if(g.locs.begin(), g.locs.end(),
                                      [&](const location& l) {
                                        return l.first >= first;
                                      }),
                       g.locs.end());
          g.locs.push_back(location{seq_, size_ + m.at, m.bytes, first,
                                    rd.entries.back().index});
        }
        if (rd.hard)
          g.hard = *rd.hard;
      }
      size_ += buf.size();
    }
    {
      std::lock_guard<std::mutex> guard{mtx_};
      if (!buf.empty() && !err) {
        ++figures_.batches;
        figures_.records += records;
        figures_.bytes = old_bytes_ + size_;
      }
      figures_.groups = groups_.size();
    }
    for (auto& d : waiting)
      d(err);
    buf.clear();
    waiting.clear();
    metas.clear();
    records = 0;
  };
  for (auto& o : batch) {
    switch (o.k) {
      case op::kind::save: {
        if (!o.rd->needs_persist()) {
          waiting.push_back(std::move(o.done));
          break;
        }
        // A group that starts over from a snapshot it received drops every
        // entry it had (the storage contract of snap_install).
        auto payload = encode_save(o.group, *o.rd, false);
        auto at = frame(buf, payload);
        metas.push_back({o.group, o.rd, at, header_bytes + payload.size(),
                         false});
        ++records;
        waiting.push_back(std::move(o.done));
        break;
      }
      case op::kind::forget: {
        auto at = frame(buf, encode_forget(o.group));
        metas.push_back({o.group, nullptr, at, buf.size() - at, true});
        ++records;
        waiting.push_back(std::move(o.done));
        break;
      }
      case op::kind::flush:
        waiting.push_back(std::move(o.done));
        write_out();
        break;
      case op::kind::load: {
        write_out();
        initial_state st;
        std::optional<std::string> err = failed_;
        auto g = groups_.find(o.group);
        if (!err && g != groups_.end())
          err = replay(g->second, st);
        o.loaded(std::move(st), err);
        break;
      }
    }
  }
  write_out();
}

// replay: a group's state read back from its records (a restarted replica,
// a roll's checkpoint).
std::optional<std::string> node_log::replay(const group_meta& g,
                                            initial_state& out) {
  out = initial_state{};
  out.hard = g.hard;
  out.snap = g.snap;
  std::string head;
  std::string payload;
  for (auto& l : g.locs) {
    int fd = l.seq == seq_ ? fd_ : ::open(segment_path(l.seq).c_str(), O_RDONLY);
    if (fd < 0)
      return "cannot open " + segment_path(l.seq) + ": " + std::strerror(errno);
    bool ok = read_exact(fd, head, header_bytes, l.offset)
              && read_exact(fd, payload, l.bytes - header_bytes,
                            l.offset + header_bytes);
    if (fd != fd_)
      ::close(fd);
    std::optional<record> rec;
    if (ok && crc32c(payload.data(), payload.size()) == get_u32(head.data()))
      rec = decode_record(payload);
    if (!rec)
      return "cannot read back a record of " + segment_path(l.seq)
             + " at offset " + std::to_string(l.offset);
    if (!apply_entries(out, std::move(rec->entries)))
      return "gap in the entries read back at " + segment_path(l.seq) + ":"
             + std::to_string(l.offset);
  }
  return std::nullopt;
}

// roll: the current segment is full. The next one is written as a
// temporary file holding a checkpoint of every group (and the states not
// handed out yet), synced, renamed into place; then every older segment is
// deleted. A crash before the rename leaves the old segments whole (the
// temporary file is removed at open); after it, the new segment is complete.
void node_log::roll() {
  auto next = seq_ + 1;
  auto path = segment_path(next);
  auto tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) {
    failed_ = "cannot create " + tmp + ": " + std::strerror(errno);
    return;
  }
  std::string buf;
  std::map<std::string, group_meta> metas;
  for (auto& [name, g] : groups_) {
    initial_state st;
    if (auto e = replay(g, st)) {
      failed_ = e;
      ::close(fd);
      return;
    }
    ready rd;
    rd.hard = st.hard;
    if (st.snap.meta.index > 0 || !st.snap.meta.conf.voters.empty())
      rd.snap = st.snap;
    rd.entries = std::move(st.entries);
    auto payload = encode_save(name, rd, true);
    auto at = frame(buf, payload);
    auto& m = metas[name];
    m.hard = g.hard;
    m.snap = g.snap;
    if (!rd.entries.empty())
      m.locs.push_back(location{next, at, header_bytes + payload.size(),
                                rd.entries.front().index,
                                rd.entries.back().index});
  }
  size_t done = 0;
  while (done < buf.size()) {
    auto w = ::pwrite(fd, buf.data() + done, buf.size() - done,
                      static_cast<off_t>(done));
    if (w <= 0 && errno != EINTR) {
      failed_ = "cannot write " + tmp + ": " + std::strerror(errno);
      ::close(fd);
      return;
    }
    if (w > 0)
      done += static_cast<size_t>(w);
  }
  if (::fdatasync(fd) != 0 || ::rename(tmp.c_str(), path.c_str()) != 0) {
    failed_ = "cannot finish " + path + ": " + std::strerror(errno);
    ::close(fd);
    return;
  }
  if (auto e = sync_dir(cfg_.dir)) {
    failed_ = e;
    ::close(fd);
    return;
  }
  ::close(fd_);
  old_seqs_.push_back(seq_);
  for (auto s : old_seqs_)
    ::unlink(segment_path(s).c_str());
  old_seqs_.clear();
  old_bytes_ = 0;
  fd_ = fd;
  seq_ = next;
  size_ = buf.size();
  groups_ = std::move(metas);
  std::lock_guard<std::mutex> guard{mtx_};
  ++figures_.rolls;
  figures_.segments = 1;
  figures_.bytes = size_;
}

std::optional<std::string> node_log_storage::load(initial_state& out) {
  std::promise<std::optional<std::string>> p;
  log_->load(group_, [&](initial_state st,
                         const std::optional<std::string>& err) {
    out = std::move(st);
    p.set_value(err);
  });
  return p.get_future().get();
}

std::optional<std::string> node_log_storage::save(const ready& rd) {
  std::promise<std::optional<std::string>> p;
  log_->submit(group_, std::make_shared<ready>(rd),
               [&](const std::optional<std::string>& err) {
                 p.set_value(err);
               });
  return p.get_future().get();
}

} // namespace cxesdb::actors::raft
