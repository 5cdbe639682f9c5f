#include "stores/bootstrap.hpp"

#include <algorithm>
#include <set>

namespace cxesdb::stores {

namespace {

std::string trim(const std::string& s) {
  auto b = s.find_first_not_of(" \t");
  if (b == std::string::npos)
    return {};
  auto e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
}

/// `host:port` split at the last colon; a port that is not a number sorts
/// after every number (by its text).
struct address_key {
  std::string host;
  bool numeric = false;
  uint64_t port = 0;
  std::string rest;

  explicit address_key(const std::string& a) {
    auto colon = a.rfind(':');
    host = colon == std::string::npos ? a : a.substr(0, colon);
    rest = colon == std::string::npos ? std::string{} : a.substr(colon + 1);
    numeric = !rest.empty() && rest.size() <= 5
              && std::all_of(rest.begin(), rest.end(),
                             [](char c) { return c >= '0' && c <= '9'; });
    if (numeric)
      port = std::stoull(rest);
  }

  bool operator<(const address_key& other) const {
    if (host != other.host)
      return host < other.host;
    if (numeric != other.numeric)
      return numeric;
    if (numeric && port != other.port)
      return port < other.port;
    return rest < other.rest;
  }
};

} // namespace

const char* to_string(bootstrap_action x) {
  switch (x) {
    case bootstrap_action::found:
      return "found";
    case bootstrap_action::join:
      return "join";
    case bootstrap_action::wait:
      break;
  }
  return "wait";
}

std::vector<std::string> normalize_seeds(const std::vector<std::string>& seeds) {
  std::vector<std::string> out;
  for (auto& s : seeds) {
    auto t = trim(s);
    if (!t.empty() && std::find(out.begin(), out.end(), t) == out.end())
      out.push_back(std::move(t));
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const std::string& a, const std::string& b) {
                     return address_key{a} < address_key{b};
                   });
  return out;
}

std::string founding_seed(const std::vector<std::string>& seeds) {
  auto n = normalize_seeds(seeds);
  return n.empty() ? std::string{} : n.front();
}

size_t seed_quorum(const std::vector<std::string>& seeds) {
  return normalize_seeds(seeds).size() / 2 + 1;
}

bootstrap_decision decide_bootstrap(const bootstrap_input& in) {
  auto seeds = normalize_seeds(in.seeds);
  auto self = trim(in.self_address);
  if (seeds.empty())
    return {bootstrap_action::found, "no seeds: this node founds a cluster "
                                     "of one"};
  if (in.has_catalog)
    return {bootstrap_action::join, "this node's catalog holds data: it "
                                    "rejoins its cluster and never founds "
                                    "another"};
  if (std::find(seeds.begin(), seeds.end(), self) == seeds.end())
    return {bootstrap_action::join, "this node (" + self + ") is not among "
                                    "its seeds: it joins them"};
  for (auto& a : in.answers)
    if (!a.nodes.empty())
      return {bootstrap_action::join, "seed " + a.address + " is in a "
                                      "cluster already: this node joins it"};
  if (seeds.front() != self)
    return {bootstrap_action::join, "the founding seed is " + seeds.front()
                                    + ": this node joins the cluster it "
                                      "founds"};
  std::set<std::string> answered{self};
  for (auto& a : in.answers) {
    auto t = trim(a.address);
    if (std::find(seeds.begin(), seeds.end(), t) != seeds.end())
      answered.insert(t);
  }
  auto quorum = seeds.size() / 2 + 1;
  if (answered.size() < quorum)
    return {bootstrap_action::wait,
            std::to_string(answered.size()) + " of " + std::to_string(quorum)
              + " seeds needed (a majority of " + std::to_string(seeds.size())
              + ", this node included) answered, none in a cluster"};
  return {bootstrap_action::found,
          "this node is the founding seed and " + std::to_string(answered.size())
            + " of " + std::to_string(seeds.size())
            + " seeds (a majority) answered, none in a cluster"};
}

} // namespace cxesdb::stores
