// `top`: a table of the node's stores (their status, leader, figures,
// append rates and subscription lags) refreshed every --interval-ms until
// --count refreshes or Ctrl-C. Each refresh is list_stores, then
// get_store_status and get_subscriptions per store, on the session's
// connection.

#include "tools/shell/top_command.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ostream>
#include <thread>

#include <unistd.h>

#include "tools/shell/interrupt.hpp"
#include "tools/shell/render.hpp"
#include "tools/shell/session.hpp"
#include "tools/shell/table_printer.hpp"

namespace cxesdb::shell {

namespace {

/// How often the wait between refreshes looks at the Ctrl-C flag.
constexpr int top_poll_ms = 50;

std::optional<int64_t> int_field(const nlohmann::json& j, const char* key) {
  if (!j.is_object())
    return std::nullopt;
  auto i = j.find(key);
  if (i == j.end() || !i->is_number_integer())
    return std::nullopt;
  return i->get<int64_t>();
}

std::string human_bytes(int64_t n) {
  static const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(n);
  size_t u = 0;
  while (v >= 1024 && u + 1 < std::size(units)) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  if (u == 0)
    std::snprintf(buf, sizeof buf, "%lld B", static_cast<long long>(n));
  else
    std::snprintf(buf, sizeof buf, "%.1f %s", v, units[u]);
  return buf;
}

std::string optional_int(std::optional<int64_t> x) {
  return x ? std::to_string(*x) : "-";
}

request build_top(const parsed_args& args, const command_context&) {
  parse_top(args); // usage errors before anything is sent
  return {"list_stores", nlohmann::json::object()};
}

} // namespace

top_settings parse_top(const parsed_args& args) {
  top_settings res;
  if (auto v = args.get("interval-ms")) {
    res.interval_ms = parse_int(*v, "--interval-ms");
    if (res.interval_ms < top_interval_ms_min
        || res.interval_ms > top_interval_ms_max)
      throw usage_error("--interval-ms must be between "
                        + std::to_string(top_interval_ms_min) + " and "
                        + std::to_string(top_interval_ms_max));
  }
  if (auto v = args.get("count")) {
    res.count = parse_int(*v, "--count");
    if (*res.count < 1)
      throw usage_error("--count must be at least 1");
  }
  return res;
}

std::vector<top_row> top_rows(const top_sample* before,
                              const top_sample& now) {
  std::vector<top_row> rows;
  for (auto& s : now.stores) {
    top_row row;
    row.sample = &s;
    if (before != nullptr && now.at_s > before->at_s) {
      auto prev = std::find_if(
        before->stores.begin(), before->stores.end(),
        [&](const store_sample& p) { return p.store == s.store; });
      auto now_pos = int_field(s.status, "last_position");
      if (prev != before->stores.end() && now_pos) {
        auto prev_pos = int_field(prev->status, "last_position").value_or(-1);
        if (!prev->status.is_null())
          row.appends_per_s
            = std::max<double>(0, static_cast<double>(*now_pos - prev_pos))
              / (now.at_s - before->at_s);
      }
    }
    rows.push_back(row);
  }
  return rows;
}

void render_top(const std::vector<top_row>& rows, std::ostream& out) {
  table_printer table{{"store", "status", "leader", "events", "streams",
                       "size", "appends/s", "sub lag"}};
  for (auto& r : rows) {
    auto& s = *r.sample;
    if (s.status.is_null()) {
      table.add_row({s.store, "error: " + s.error, "-", "-", "-", "-", "-",
                     "-"});
      continue;
    }
    auto bytes = int_field(s.status, "bytes");
    char rate[32] = "-";
    if (r.appends_per_s)
      std::snprintf(rate, sizeof rate, "%.0f", *r.appends_per_s);
    table.add_row({s.store, cell_text(s.status.value("status", nlohmann::json{})),
                   cell_text(s.status.value("leader", nlohmann::json{})),
                   optional_int(int_field(s.status, "events")),
                   optional_int(int_field(s.status, "streams")),
                   bytes ? human_bytes(*bytes) : "-", rate,
                   optional_int(s.max_lag)});
  }
  table.print(out);
}

nlohmann::json top_json(const std::vector<top_row>& rows) {
  auto stores = nlohmann::json::array();
  for (auto& r : rows) {
    auto& s = *r.sample;
    nlohmann::json j = s.status.is_object() ? s.status : nlohmann::json::object();
    j["store"] = s.store;
    if (s.status.is_null())
      j["error"] = s.error;
    j["appends_per_s"] = r.appends_per_s ? nlohmann::json(*r.appends_per_s)
                                         : nlohmann::json(nullptr);
    j["max_lag"] = s.max_lag ? nlohmann::json(*s.max_lag)
                             : nlohmann::json(nullptr);
    stores.push_back(std::move(j));
  }
  return nlohmann::json{{"stores", std::move(stores)}};
}

void add_top_command(std::vector<command_spec>& table) {
  table.push_back(
    {"top", "top [--interval-ms N] [--count N]",
     "show every store's status, leader, figures, append rate and largest "
     "subscription lag, refreshed until Ctrl-C",
     {{"interval-ms", "N",
       "time between refreshes (default 1000, 100 to 60000)"},
      {"count", "N", "stop after N refreshes"}},
     0, 0, false, false, build_top, nullptr});
}

exit_code session::run_top(const top_settings& top, bool json) {
  sigint_guard sigint;
  bool tty = !json && isatty(STDOUT_FILENO) != 0;
  std::optional<top_sample> before;
  for (int64_t n = 0; !top.count || n < *top.count; ++n) {
    if (n > 0) {
      // Wait for the next refresh in short naps, so that Ctrl-C ends it.
      auto until = std::chrono::steady_clock::now()
                   + std::chrono::milliseconds{top.interval_ms};
      while (!sigint_guard::interrupted()
             && std::chrono::steady_clock::now() < until)
        std::this_thread::sleep_for(std::chrono::milliseconds{top_poll_ms});
    }
    if (sigint_guard::interrupted())
      break;
    auto list = conn_.call("list_stores", nlohmann::json::object());
    if (list.status != call_status::ok)
      return report(list);
    top_sample now;
    auto stores = list.body.value("stores", nlohmann::json::object());
    for (auto& item : stores.items()) {
      store_sample s;
      s.store = item.key();
      auto status = conn_.call("get_store_status", {{"store", s.store}});
      if (status.status == call_status::ok)
        s.status = status.body;
      else if (status.status == call_status::error)
        s.error = error_text(status.body);
      else
        return report(status);
      auto subs = conn_.call("get_subscriptions", {{"store", s.store}});
      if (subs.status == call_status::ok) {
        auto list_of = subs.body.value("subscriptions", nlohmann::json::array());
        for (auto& sub : list_of)
          if (auto lag = int_field(sub, "lag"))
            s.max_lag = std::max(s.max_lag.value_or(0), *lag);
      }
      now.stores.push_back(std::move(s));
    }
    now.at_s = std::chrono::duration<double>(
                 std::chrono::steady_clock::now().time_since_epoch())
                 .count();
    auto rows = top_rows(before ? &*before : nullptr, now);
    if (json) {
      out_ << top_json(rows).dump() << '\n';
    } else {
      if (tty)
        out_ << "\x1b[H\x1b[2J"; // home, clear: the table stays in place
      render_top(rows, out_);
      if (!tty)
        out_ << '\n';
    }
    out_.flush();
    before = std::move(now);
  }
  if (sigint_guard::interrupted() && opts_.interactive)
    out_ << '\n';
  out_.flush();
  return exit_code::ok;
}

} // namespace cxesdb::shell
