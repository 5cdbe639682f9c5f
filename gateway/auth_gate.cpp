#include "gateway/auth_gate.hpp"

#include <cstring>

#include <nlohmann/json.hpp>

#include "gateway/auth.hpp"
#include "gateway/json_rpc.hpp"

namespace cxesdb::gateway {

using nlohmann::json;
using stores::errc;

auth_gate::auth_gate(std::shared_ptr<const auth_registry> registry)
  : registry_(std::move(registry)) {
  // nop
}

auth_gate::outcome auth_gate::on_line(const std::string& line) {
  outcome out;
  if (principal_.empty() && line.size() > unauthenticated_message_bytes_max) {
    auto e = make_rpc_error(errc::unauthorized,
                            "authenticate first (until then, messages are at "
                            "most "
                              + std::to_string(
                                unauthenticated_message_bytes_max)
                              + " bytes)");
    out.kind = outcome::answer;
    out.text = error_response("null", e);
    return out;
  }
  // Only a short message can be an authenticate request the gate answers;
  // a cheap search spares the parse of every other message.
  static const char word[] = "authenticate";
  if (line.size() > unauthenticated_message_bytes_max
      || ::memmem(line.data(), line.size(), word, sizeof(word) - 1) == nullptr)
    return out;
  // Deep nesting is the gateway's to refuse (parsing recurses).
  if (json_depth(line) > rpc_limits::json_depth_max)
    return out;
  auto req = json::parse(line, nullptr, false);
  if (!req.is_object())
    return out; // a batch, or not JSON: the gateway answers it
  auto m = req.find("method");
  auto v = req.find("jsonrpc");
  auto id = req.find("id");
  if (m == req.end() || *m != "authenticate" || v == req.end() || *v != "2.0"
      || (id != req.end() && !id->is_string() && !id->is_number()
          && !id->is_null()))
    return out; // not an authenticate request, or a malformed one
  bool notification = id == req.end();
  std::string id_text = notification ? "null" : id->dump();
  out.kind = outcome::answer;
  auto reply_error = [&](const rpc_error& e) {
    if (!notification)
      out.text = error_response(id_text, e);
  };
  // The params: exactly a token string. The token is never put into an
  // answer or a log line.
  auto p = req.find("params");
  if (p == req.end() || !p->is_object()) {
    reply_error(invalid_param("params", "params must be an object with a "
                                        "token"));
    return out;
  }
  for (auto& kv : p->items()) {
    if (kv.key() != "token") {
      reply_error(invalid_param(kv.key(), "unknown parameter " + kv.key()));
      return out;
    }
  }
  auto t = p->find("token");
  if (t == p->end() || !t->is_string()) {
    reply_error(invalid_param("token", "token must be a string"));
    return out;
  }
  auto& token = t->get_ref<const std::string&>();
  auto table = registry_->current();
  const auth_user* user = valid_token(token) ? table->authenticate(token)
                                             : nullptr;
  if (user == nullptr) {
    ++failures_;
    if (failures_ >= failures_max) {
      reply_error(make_rpc_error(errc::unauthorized,
                                 "unknown token; "
                                   + std::to_string(failures_max)
                                   + " failures: the connection is closed"));
      out.kind = outcome::answer_and_close;
      return out;
    }
    reply_error(make_rpc_error(errc::unauthorized, "unknown token"));
    return out;
  }
  principal_.assign(reinterpret_cast<const char*>(user->token_sha256.data()),
                    user->token_sha256.size());
  if (!notification)
    out.text = response(id_text, authenticate_result(*user));
  return out;
}

} // namespace cxesdb::gateway
