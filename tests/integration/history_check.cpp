#include "tests/integration/history_check.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <utility>

namespace cxesdb::tests {

namespace {

using event_key = std::pair<std::string, std::string>; // stream, event id

/// Collects problems up to the limit and counts the rest.
class problem_list {
public:
  problem_list(check_report& report, size_t max) : report_(report), max_(max) {
  }

  void add(std::string text) {
    if (report_.problems.size() < max_)
      report_.problems.push_back(std::move(text));
    else
      ++report_.problems_dropped;
  }

private:
  check_report& report_;
  size_t max_;
};

std::string batch_text(const sent_append& s) {
  std::string out = "batch of " + std::to_string(s.event_ids.size())
                    + " to stream '" + s.stream + "'";
  if (s.acked)
    out += " acknowledged with version " + std::to_string(s.version)
           + ", position " + std::to_string(s.position);
  else
    out += " with unknown outcome";
  return out;
}

/// Positions, event numbers and event ids of one replica on their own.
void check_rows(const replica_state& rep, const check_options& opts,
                problem_list& problems) {
  auto& rows = rep.rows;
  if (rows.empty())
    return;
  auto first = opts.first_position.value_or(rows.front().position);
  if (rows.front().position != first)
    problems.add(rep.name + ": the first row is " + to_string(rows.front())
                 + ", expected position " + std::to_string(first));
  for (size_t i = 1; i < rows.size(); ++i) {
    if (rows[i].position != rows[i - 1].position + 1) {
      problems.add(rep.name + ": positions not gapless: "
                   + to_string(rows[i - 1]) + " is followed by "
                   + to_string(rows[i]));
      break; // one is enough: the rest would repeat it
    }
  }
  std::map<std::string, int64_t> next_number;
  std::set<std::string> reported_streams;
  std::map<event_key, int64_t> seen; // key -> position
  for (auto& row : rows) {
    auto& next = next_number[row.stream_id];
    if (row.event_number != next
        && reported_streams.insert(row.stream_id).second)
      problems.add(rep.name + ": stream '" + row.stream_id
                   + "': event number " + std::to_string(row.event_number)
                   + " at " + to_string(row) + ", expected "
                   + std::to_string(next) + " (numbers must be gapless from 0)");
    next = row.event_number + 1;
    auto [i, fresh] = seen.emplace(event_key{row.stream_id, row.event_id},
                                   row.position);
    if (!fresh)
      problems.add(rep.name + ": event id " + row.event_id
                   + " is twice in stream '" + row.stream_id
                   + "', at positions " + std::to_string(i->second) + " and "
                   + std::to_string(row.position));
  }
}

/// The index of the first row where `a` and `b` differ (the shorter size when
/// one is a prefix of the other).
size_t first_difference(const std::vector<replica_row>& a,
                        const std::vector<replica_row>& b) {
  size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i)
    if (a[i] != b[i])
      return i;
  return n;
}

std::string row_or_end(const std::vector<replica_row>& rows, size_t i) {
  return i < rows.size() ? to_string(rows[i]) : std::string{"(end)"};
}

/// Every full replica equals the reference; a lagging one is a prefix of it.
void check_agreement(const std::vector<replica_state>& replicas,
                     problem_list& problems) {
  const replica_state* ref = nullptr;
  for (auto& r : replicas)
    if (!r.may_lag && (ref == nullptr || r.rows.size() > ref->rows.size()))
      ref = &r;
  if (ref == nullptr) // only lagging replicas: compare with the longest
    for (auto& r : replicas)
      if (ref == nullptr || r.rows.size() > ref->rows.size())
        ref = &r;
  if (ref == nullptr)
    return;
  for (auto& r : replicas) {
    if (&r == ref)
      continue;
    auto i = first_difference(r.rows, ref->rows);
    bool same = i == r.rows.size() && i == ref->rows.size();
    bool prefix = i == r.rows.size() && r.rows.size() <= ref->rows.size();
    if (same || (r.may_lag && prefix))
      continue;
    auto what = r.may_lag ? " (may lag) is not a prefix of " : " differs from ";
    problems.add(r.name + what + ref->name + ": " + r.name + " has "
                 + std::to_string(r.rows.size()) + " rows, " + ref->name
                 + " has " + std::to_string(ref->rows.size())
                 + "; the first difference is row " + std::to_string(i) + ": "
                 + row_or_end(r.rows, i) + " vs " + row_or_end(ref->rows, i));
  }
}

/// What the clients were told against one replica.
void check_sent(const std::vector<sent_append>& sent, const replica_state& rep,
                const check_options& opts, problem_list& problems) {
  std::map<event_key, size_t> index; // key -> row index (first occurrence)
  for (size_t i = 0; i < rep.rows.size(); ++i)
    index.emplace(event_key{rep.rows[i].stream_id, rep.rows[i].event_id}, i);
  std::set<event_key> sent_keys;
  for (auto& s : sent) {
    std::vector<const replica_row*> found;
    std::string first_missing;
    for (auto& id : s.event_ids) {
      sent_keys.emplace(s.stream, id);
      auto i = index.find(event_key{s.stream, id});
      if (i != index.end())
        found.push_back(&rep.rows[i->second]);
      else if (first_missing.empty())
        first_missing = id;
    }
    if (found.empty()) {
      if (s.acked && !rep.may_lag && !s.event_ids.empty())
        problems.add(rep.name + ": acknowledged event " + first_missing
                     + " is missing (" + batch_text(s) + ")");
      continue;
    }
    if (found.size() < s.event_ids.size()) {
      problems.add(rep.name + ": only " + std::to_string(found.size()) + " of "
                   + std::to_string(s.event_ids.size())
                   + " events are present, " + first_missing
                   + " is missing (" + batch_text(s)
                   + "; a batch is all or nothing)");
      continue;
    }
    for (size_t j = 1; j < found.size(); ++j) {
      if (found[j]->event_number != found[0]->event_number
                                      + static_cast<int64_t>(j)
          || found[j]->position <= found[j - 1]->position) {
        problems.add(rep.name + ": the events are not consecutive in the "
                     "order sent: " + to_string(*found[j - 1]) + " then "
                     + to_string(*found[j]) + " (" + batch_text(s) + ")");
        break;
      }
    }
    if (s.acked
        && (found.back()->event_number != s.version
            || found.back()->position != s.position))
      problems.add(rep.name + ": the batch's last event is "
                   + to_string(*found.back()) + " (" + batch_text(s) + ")");
  }
  if (!opts.only_sent_events)
    return;
  for (auto& row : rep.rows)
    if (sent_keys.count(event_key{row.stream_id, row.event_id}) == 0) {
      problems.add(rep.name + ": " + to_string(row)
                   + " was not sent by any client");
      break; // one names the problem
    }
}

} // namespace

std::string to_string(const replica_row& row) {
  return "#" + std::to_string(row.position) + " " + row.stream_id + "/"
         + std::to_string(row.event_number) + " " + row.event_id;
}

std::string check_report::message() const {
  if (ok())
    return "ok";
  std::string out = std::to_string(problems.size() + problems_dropped)
                    + " problem(s):";
  for (auto& p : problems)
    out += "\n  - " + p;
  if (problems_dropped > 0)
    out += "\n  - ... and " + std::to_string(problems_dropped) + " more";
  return out;
}

check_report check_history(const std::vector<sent_append>& sent,
                           const std::vector<replica_state>& replicas,
                           const check_options& opts) {
  check_report report;
  problem_list problems{report, opts.problems_max};
  if (replicas.empty()) {
    problems.add("no replica to check");
    return report;
  }
  for (auto& r : replicas)
    check_rows(r, opts, problems);
  check_agreement(replicas, problems);
  for (auto& r : replicas)
    check_sent(sent, r, opts, problems);
  return report;
}

} // namespace cxesdb::tests
