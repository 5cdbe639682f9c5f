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
        return {call_status::disconnected, nullptr,
                "connection to " + host_ + ":" + std::to_string(port_)
                  + " closed before the answer arrived"};
      if (remaining_ms(deadline) > early_return_margin_ms) {
        // json_client gave up early: the message outgrew its
        // message_bytes_max. It keeps the half-read message buffered and
        // would fail every later read, so start over on a new connection.
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
    if (!msg.is_object() || !msg.contains("id"))
      continue; // a notification, or noise: not ours
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

} // namespace cxesdb::shell
