#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace cxesdb::actors {

/// Appends little-endian fixed-width integers and length-prefixed strings:
/// the wire format of log entries (store commands, Raft messages).
class byte_writer {
public:
  void u8(uint8_t x) {
    out_.push_back(static_cast<char>(x));
  }

  void u64(uint64_t x) {
    for (int i = 0; i < 8; ++i)
      out_.push_back(static_cast<char>((x >> (8 * i)) & 0xff));
  }

  void i64(int64_t x) {
    u64(static_cast<uint64_t>(x));
  }

  void str(const std::string& s) {
    u64(s.size());
    out_ += s;
  }

  std::string take() {
    return std::move(out_);
  }

private:
  std::string out_;
};

/// Reads what `byte_writer` wrote; every read fails softly (returns false)
/// past the end, so corrupt input is refused, never misread.
class byte_reader {
public:
  explicit byte_reader(const std::string& in) : in_(in) {
  }

  bool u8(uint8_t& x) {
    if (pos_ + 1 > in_.size())
      return false;
    x = static_cast<uint8_t>(in_[pos_++]);
    return true;
  }

  bool u64(uint64_t& x) {
    if (pos_ + 8 > in_.size())
      return false;
    x = 0;
    for (int i = 0; i < 8; ++i)
      x |= static_cast<uint64_t>(static_cast<uint8_t>(in_[pos_ + i]))
           << (8 * i);
    pos_ += 8;
    return true;
  }

  bool i64(int64_t& x) {
    uint64_t u = 0;
    if (!u64(u))
      return false;
    x = static_cast<int64_t>(u);
    return true;
  }

  bool str(std::string& s) {
    uint64_t n = 0;
    if (!u64(n) || n > in_.size() - pos_)
      return false;
    s.assign(in_, pos_, n);
    pos_ += n;
    return true;
  }

  bool done() const {
    return pos_ == in_.size();
  }

  /// Bytes not read yet.
  size_t remaining() const {
    return in_.size() - pos_;
  }

private:
  const std::string& in_;
  size_t pos_ = 0;
};

} // namespace cxesdb::actors
