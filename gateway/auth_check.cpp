#include "gateway/auth_check.hpp"

#include "gateway/auth.hpp"

namespace cxesdb::gateway {

using stores::errc;

std::optional<rpc_error>
check_authenticated(const auth_registry* auth, const std::string* principal,
                    const std::string& method,
                    std::shared_ptr<const auth_table>& table,
                    const auth_user*& user) {
  user = nullptr;
  if (auth == nullptr)
    return std::nullopt;
  if (method == "authenticate")
    return make_rpc_error(errc::invalid_request,
                          "authenticate must be a message of its own (not in "
                          "a batch), of at most 65536 bytes");
  if (principal == nullptr)
    return std::nullopt;
  table = auth->current();
  if (!principal->empty())
    user = table->find(*principal);
  if (user == nullptr && authorize(nullptr, method, "") != verdict::allowed)
    return make_rpc_error(errc::unauthorized,
                          principal->empty()
                            ? "authenticate first"
                            : "the token is no longer valid; authenticate "
                              "again");
  return std::nullopt;
}

std::optional<rpc_error> check_rights(const auth_user* user,
                                      const std::string& method,
                                      const std::string& store,
                                      bool store_named) {
  if (user == nullptr || authorize(user, method, store) == verdict::allowed)
    return std::nullopt;
  auto c = classify(method);
  bool about_store = store_named || c == method_class::reader
                     || c == method_class::writer;
  auto e = make_rpc_error(
    errc::forbidden,
    "user " + user->name + " may not call " + method
      + (about_store ? " on store " + store : std::string{}));
  e.data["store"] = about_store ? nlohmann::json(store) : nlohmann::json();
  return e;
}

std::string open_authenticate_result() {
  return R"({"authenticated":true,"user":null,"role":"admin","stores":{}})";
}

} // namespace cxesdb::gateway
