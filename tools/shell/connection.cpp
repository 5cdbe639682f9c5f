#include "tools/shell/connection.hpp"

#include <chrono>
#include <utility>

namespace cxesdb::shell {

namespace {

using clock_type = std::chrono::steady_clock;

/// json_client's read_line may return a little before the deadline (it
/// rounds each poll down to whole milliseconds). An empty read earlier than
/// this before the deadline means it gave up for another reason.
constexpr int early_return_margin_ms = 50;

int remaining_ms(clock_type::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
    deadline - clock_type::now());
  return left.count() < 0 ? 0 : static_cast<int>(left.count());
}

/// Notifications `call` keeps at most; later ones are dropped.
constexpr size_t notifications_max = 100000;

} // namespace

connection::connection(std::string host, uint16_t port, int timeout_ms)
  : host_(std::move(host)), port_(port), timeout_ms_(timeout_ms) {
  // nop
}

std::optional<std::string> connection::ensure_connected(int timeout_ms) {
  if (client_.connected())
    return std::nullopt;
  return client_.connect(host_, port_, timeout_ms);
}

call_outcome connection::call(const std::string& method,
                              nlohmann::json params, int timeout_ms) {
  if (auto err = ensure_connected(timeout_ms))
    return {call_status::disconnected, nullptr, *err};
  auto id = next_id_++;
  nlohmann::json req{{"jsonrpc", "2.0"},
                     {"id", id},
                     {"method", method},
                     {"params", std::move(params)}};
  if (!client_.send(req))
    return {call_status::disconnected, nullptr,
            "connection to " + host_ + ":" + std::to_string(port_)
              + " lost while sending"};
  auto deadline = clock_type::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    auto line = client_.read_line(remaining_ms(deadline));
    if (!line) {
      if (!client_.connected())
        // json_client also closes when a message outgrows its
        // message_bytes_max (the framing is lost); it cannot be told apart
        // from the node closing.
        return {call_status::disconnected, nullptr,
                "connection to " + host_ + ":" + std::to_string(port_)
                  + " closed before the answer arrived (or the answer "
                    "outgrew the shell's 64 MiB limit)"};
      if (remaining_ms(deadline) > early_return_margin_ms) {
        // json_client gave up early without closing: treat it as a
        // message over its message_bytes_max and start over on a new
        // connection (current json_client versions close instead).
        client_.close();
        return {call_status::error,
                nlohmann::json{
                  {"code", -32008},
                  {"message", "the answer is larger than the shell's limit; "
                              "ask for less (e.g. --count)"},
                  {"data",
                   {{"reason", "too_large"},
                    {"limit", gateway::json_client::message_bytes_max}}}},
                {}};
      }
      // The answer may still come, but nobody waits for it any more; a new
      // connection also leaves no half-read message behind.
      client_.close();
      return {call_status::timeout, nullptr,
              "no answer from the node within " + std::to_string(timeout_ms)
                + " ms; the outcome is unknown"};
    }
    auto msg = nlohmann::json::parse(*line, nullptr, false);
    if (!msg.is_object() || !msg.contains("id")) {
      // A notification (kept for read_message), or noise.
      if (msg.is_object() && msg.contains("method")
          && notifications_.size() < notifications_max)
        notifications_.push_back(std::move(msg));
      continue;
    }
    auto& msg_id = msg["id"];
    bool ours = msg_id == id;
    bool unattributed = msg_id.is_null() && msg.contains("error");
    if (!ours && !unattributed)
      continue; // an answer to another id: not ours
    if (msg.contains("error"))
      return {call_status::error, std::move(msg["error"]), {}};
    if (msg.contains("result"))
      return {call_status::ok, std::move(msg["result"]), {}};
    return {call_status::error,
            nlohmann::json{{"code", -32603},
                           {"message", "response has neither result nor error"},
                           {"data", {{"reason", "internal_error"}}}},
            {}};
  }
}

std::optional<int64_t> connection::send(const std::string& method,
                                        nlohmann::json params) {
  if (!client_.connected())
    return std::nullopt;
  auto id = next_id_++;
  nlohmann::json req{{"jsonrpc", "2.0"},
                     {"id", id},
                     {"method", method},
                     {"params", std::move(params)}};
  if (!client_.send(req))
    return std::nullopt;
  return id;
}

read_outcome connection::read_message(int timeout_ms) {
  if (!notifications_.empty()) {
    read_outcome res{read_status::message,
                     std::move(notifications_.front()), {}};
    notifications_.pop_front();
    return res;
  }
  auto where = host_ + ":" + std::to_string(port_);
  if (!client_.connected())
    return {read_status::disconnected, nullptr,
            "not connected to " + where};
  auto deadline = clock_type::now() + std::chrono::milliseconds(timeout_ms);
  auto line = client_.read_line(timeout_ms);
  if (line)
    return {read_status::message, nlohmann::json::parse(*line, nullptr, false),
            {}};
  if (!client_.connected())
    return {read_status::disconnected, nullptr,
            "connection to " + where + " closed"};
  if (remaining_ms(deadline) > early_return_margin_ms) {
    // As in call(): a message over json_client's limit.
    client_.close();
    return {read_status::too_large, nullptr,
            "a message from the node is larger than the shell's limit"};
  }
  return {read_status::timeout, nullptr, {}};
}

void connection::close() {
  client_.close();
  notifications_.clear();
}

} // namespace cxesdb::shell
