// `tail`: a live tail of a store's events over a subscription (protocol
// section 7). The session sends the save_subscription request this file
// builds, then prints the event notifications until `--count` events,
// Ctrl-C, a subscription_dropped notification or the end of the connection.

#include "tools/shell/tail_command.hpp"

#include <algorithm>
#include <chrono>
#include <ostream>

#include "tools/shell/interrupt.hpp"
#include "tools/shell/render.hpp"
#include "tools/shell/session.hpp"

namespace cxesdb::shell {

namespace {

/// How often the tail loop looks at the Ctrl-C flag while no message comes.
constexpr int tail_poll_ms = 200;

/// How long a persistent tail waits, when it stops, for the answer to its
/// last ack_event (at most; also bounded by --timeout-ms).
constexpr int ack_drain_ms_max = 2000;

request build_tail(const parsed_args& args, const command_context& ctx) {
  return {"save_subscription", parse_tail(args, ctx).params};
}

} // namespace

tail_settings parse_tail(const parsed_args& args, const command_context& ctx) {
  tail_settings res;
  auto& params = res.params;
  if (!args.positional.empty())
    params["store"] = args.positional[0];
  else if (ctx.store)
    params["store"] = *ctx.store;
  int selectors = 0;
  params["type"] = "by_stream";
  params["selector"] = "$all";
  if (auto s = args.get("stream")) {
    ++selectors;
    params["selector"] = *s;
  }
  if (auto t = args.get("type")) {
    ++selectors;
    params["type"] = "by_event_type";
    params["selector"] = *t;
  }
  for (auto [opt, type] : {std::pair{"pattern", "by_event_pattern"},
                           std::pair{"payload", "by_event_payload"}}) {
    if (auto text = args.get(opt)) {
      ++selectors;
      auto sel = parse_json(*text, std::string{"--"} + opt);
      if (!sel.is_object())
        throw usage_error(std::string{"--"} + opt
                          + " must be a JSON object");
      params["type"] = type;
      params["selector"] = std::move(sel);
    }
  }
  if (selectors > 1)
    throw usage_error("give at most one of --stream, --type, --pattern and "
                      "--payload");
  auto from = args.get("from").value_or("current");
  if (from == "origin" || from == "current") {
    params["start_from"] = from;
  } else {
    auto pos = parse_int(from, "--from");
    if (pos < 0)
      throw usage_error("--from must be origin, current or a position >= 0");
    params["start_from"] = pos;
  }
  if (auto name = args.get("name")) {
    if (name->empty())
      throw usage_error("--name must not be empty");
    params["name"] = *name;
    res.persistent = *name != "transient";
  }
  if (auto count = args.get("count")) {
    res.count = parse_int(*count, "--count");
    if (*res.count < 1)
      throw usage_error("--count must be at least 1");
  }
  return res;
}

void add_tail_command(std::vector<command_spec>& table) {
  table.push_back(
    {"tail",
     "tail [STORE] [--stream S | --type T | --pattern JSON | --payload JSON] "
     "[--from origin|current|POSITION] [--name NAME] [--count N]",
     "print a store's events as they are written, until Ctrl-C "
     "(save_subscription); --name makes it persistent and acknowledges",
     {{"stream", "S", "only the events of stream S (default: $all)"},
      {"type", "T", "only the events of type T (by_event_type)"},
      {"pattern", "JSON", "events whose record matches JSON "
                          "(by_event_pattern)"},
      {"payload", "JSON", "events whose data matches JSON (by_event_payload)"},
      {"from", "F", "origin (catch up first), current (default) or a "
                    "position"},
      {"name", "NAME", "a persistent subscription; each event is acked"},
      {"count", "N", "stop after N events"}},
     0, 1, true, true, build_tail, nullptr});
}

exit_code session::run_tail(const tail_settings& tail, bool json) {
  // The connection must carry nothing else while it is a subscriber, and the
  // subscription must end with the tail: use a fresh connection and close it
  // afterwards (the next command reconnects).
  conn_.close();
  struct closer {
    connection& conn;
    ~closer() {
      conn.close();
    }
  } close_after{conn_};
  sigint_guard sigint;
  auto res = conn_.call("save_subscription", tail.params);
  if (res.status != call_status::ok) {
    if (json && res.status == call_status::error) {
      out_ << nlohmann::json{{"error", res.body}}.dump() << '\n';
      out_.flush();
    }
    if (sigint_guard::interrupted() && res.status == call_status::timeout)
      return exit_code::ok;
    return report(res);
  }
  auto sub_id = res.body.value("subscription", nlohmann::json{});
  int64_t seen = 0;
  std::optional<int64_t> last_ack; // the id of the last ack_event sent
  // Closing the socket at once could lose the acks still in flight (the
  // checkpoint would not move), so wait a little for the last one's answer.
  auto drain_acks = [&] {
    if (!last_ack)
      return;
    using clock = std::chrono::steady_clock;
    auto deadline = clock::now() + std::chrono::milliseconds(std::min(
                                     opts_.timeout_ms, ack_drain_ms_max));
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - clock::now())
                    .count();
      if (left <= 0)
        return;
      auto msg = conn_.read_message(static_cast<int>(left));
      if (msg.status != read_status::message)
        return;
      if (msg.body.is_object() && msg.body.value("id", nlohmann::json{})
                                    == *last_ack)
        return;
    }
  };
  while (!sigint_guard::interrupted()) {
    auto msg = conn_.read_message(tail_poll_ms);
    if (msg.status == read_status::timeout)
      continue;
    if (msg.status == read_status::disconnected) {
      err_ << "error: connection_failed: " << msg.text << '\n';
      return exit_code::connection;
    }
    if (msg.status == read_status::too_large) {
      err_ << "error: too_large: " << msg.text << '\n';
      return exit_code::failed;
    }
    auto& body = msg.body;
    if (!body.is_object() || body.contains("id"))
      continue; // an answer to an ack_event: not waited for
    auto method = body.value("method", std::string{});
    auto params = body.value("params", nlohmann::json::object());
    if (!params.is_object()
        || params.value("subscription", nlohmann::json{}) != sub_id)
      continue;
    if (method == "subscription_dropped") {
      err_ << "error: subscription dropped: "
           << cell_text(params.value("reason", nlohmann::json{})) << '\n';
      return exit_code::failed;
    }
    if (method != "event")
      continue;
    auto event = params.value("event", nlohmann::json::object());
    if (json)
      out_ << event.dump() << '\n';
    else
      out_ << pretty_json(event, event_key_order()) << '\n';
    out_.flush();
    if (tail.persistent && event.contains("position")) {
      // Pipelined: the answers come back as responses and are skipped above.
      nlohmann::json ack{{"subscription", sub_id},
                         {"position", event["position"]}};
      if (tail.params.contains("store"))
        ack["store"] = tail.params["store"];
      if (auto id = conn_.send("ack_event", std::move(ack)))
        last_ack = id;
    }
    if (tail.count && ++seen >= *tail.count)
      break;
  }
  drain_acks();
  if (sigint_guard::interrupted() && opts_.interactive)
    out_ << '\n'; // the prompt starts on a line of its own after ^C
  out_.flush();
  return exit_code::ok;
}

} // namespace cxesdb::shell
