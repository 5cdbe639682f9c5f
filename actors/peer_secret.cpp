#include "actors/peer_secret.hpp"

#include <fstream>
#include <stdexcept>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

namespace cxesdb::actors {

namespace {

bool in_range(const std::string& secret) {
  return secret.size() >= peer_secret::secret_bytes_min
         && secret.size() <= peer_secret::secret_bytes_max;
}

/// Appends `x` with its length in front, so that no two different inputs
/// sign the same bytes.
void put_field(std::string& out, const std::string& x) {
  auto n = x.size();
  for (int i = 0; i < 4; ++i)
    out.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  out += x;
}

} // namespace

bool peer_secret::load(const std::string& path, std::string& err) {
  std::ifstream in{path, std::ios::binary};
  if (!in) {
    err = "cannot read the cluster secret file " + path;
    return false;
  }
  std::string text;
  // One byte past the limit is enough to tell that the file is too long.
  text.resize(secret_bytes_max + 64);
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  while (!text.empty()
         && (text.back() == '\n' || text.back() == '\r' || text.back() == ' '
             || text.back() == '\t'))
    text.pop_back();
  if (!in_range(text)) {
    err = "the cluster secret in " + path + " must be "
          + std::to_string(secret_bytes_min) + " to "
          + std::to_string(secret_bytes_max) + " bytes, not "
          + std::to_string(text.size())
          + " (make one with: openssl rand -hex 32)";
    return false;
  }
  secret_ = std::move(text);
  return true;
}

bool peer_secret::set(std::string secret) {
  if (!in_range(secret))
    return false;
  secret_ = std::move(secret);
  return true;
}

std::string peer_secret::make_nonce() {
  std::string nonce(nonce_bytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(nonce.data()),
                 static_cast<int>(nonce.size()))
      != 1)
    throw std::runtime_error("OpenSSL's random generator failed");
  return nonce;
}

std::string peer_secret::proof(role r, const std::string& their_nonce,
                               const std::string& my_nonce,
                               const std::string& name,
                               const std::string& address) const {
  if (secret_.empty())
    return {};
  std::string input = "cxesdb peer proof v1";
  input.push_back(r == role::answer ? 'A' : 'H');
  put_field(input, their_nonce);
  put_field(input, my_nonce);
  put_field(input, name);
  put_field(input, address);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret_.data(), static_cast<int>(secret_.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac,
       &len);
  return std::string{reinterpret_cast<char*>(mac), len};
}

bool peer_secret::verify(const std::string& given, role r,
                         const std::string& their_nonce,
                         const std::string& my_nonce, const std::string& name,
                         const std::string& address) const {
  auto want = proof(r, their_nonce, my_nonce, name, address);
  return given.size() == want.size()
         && (want.empty()
             || CRYPTO_memcmp(given.data(), want.data(), want.size()) == 0);
}

} // namespace cxesdb::actors
