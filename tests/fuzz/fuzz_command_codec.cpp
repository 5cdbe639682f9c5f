// Fuzz target: the command codec (stores/codec.hpp): log entries' bytes
// and what nodes send each other when they route a request (queries and
// outcomes). Every decoder gets every input: it must refuse or decode,
// never crash, and what it decodes must encode to bytes that decode to the
// same thing.

#include <cstddef>
#include <cstdint>
#include <string>

#include "stores/codec.hpp"
#include "tests/fuzz/fuzz_check.hpp"

using namespace cxesdb::stores;

namespace {

template <class T, class Decode>
void check_round_trip(const T& x, Decode decode) {
  auto bytes = encode(x);
  auto again = decode(bytes);
  FUZZ_CHECK(again.has_value());
  FUZZ_CHECK(encode(*again) == bytes);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string bytes{reinterpret_cast<const char*>(data), size};
  if (auto c = decode(bytes)) {
    // A command's encoding is canonical: nothing in it is read loosely.
    FUZZ_CHECK(encode(*c) == bytes);
    check_round_trip(*c, decode);
  }
  if (auto q = decode_query(bytes))
    check_round_trip(*q, decode_query);
  if (auto r = decode_command_result(bytes))
    check_round_trip(*r, decode_command_result);
  if (auto r = decode_query_result(bytes))
    check_round_trip(*r, decode_query_result);
  return 0;
}
