#include "tools/shell/session.hpp"

#include <utility>

#include "tools/shell/help.hpp"
#include "tools/shell/render.hpp"

namespace cxesdb::shell {

namespace {

/// Throws usage_error when a string in `params` is not valid UTF-8: JSON
/// cannot carry it (nlohmann::json would throw while sending).
void check_utf8(const nlohmann::json& params) {
  try {
    static_cast<void>(params.dump());
  } catch (const nlohmann::json::type_error&) {
    throw usage_error("an argument is not valid UTF-8");
  }
}

} // namespace

session::session(session_options opts, std::ostream& out, std::ostream& err,
                 std::istream& in)
  : opts_(std::move(opts)),
    out_(out),
    err_(err),
    in_(in),
    conn_(opts_.host, opts_.port, opts_.timeout_ms) {
  conn_.secure(opts_.tls, opts_.token);
}

exit_code session::run(const std::vector<std::string>& words) {
  if (words.empty())
    return exit_code::ok;
  auto cmd = find_command(words[0]);
  if (cmd == nullptr) {
    err_ << "error: unknown command '" << words[0]
         << "' (`help` lists the commands)\n";
    return exit_code::usage;
  }
  std::vector<std::string> rest(words.begin() + 1, words.end());
  parsed_args args;
  request req;
  bool json = opts_.json;
  try {
    args = parse_args(all_options(*cmd), rest);
    auto n = args.positional.size();
    if (n < cmd->positional_min)
      throw usage_error("too few arguments");
    if (n > cmd->positional_max)
      throw usage_error("too many arguments");
    if (cmd->build == nullptr)
      return run_local(*cmd, args);
    json = json || args.has("json");
    command_context ctx;
    ctx.store = args.get("store") ? args.get("store") : opts_.store;
    ctx.interactive = opts_.interactive;
    ctx.in = &in_;
    if (cmd->name == "tail") {
      auto tail = parse_tail(args, ctx);
      check_utf8(tail.params);
      return run_tail(tail, json);
    }
    if (cmd->name == "top")
      return run_top(parse_top(args), json);
    req = cmd->build(args, ctx);
    if (cmd->store_scoped && ctx.store && !req.params.contains("store"))
      req.params["store"] = *ctx.store;
    check_utf8(req.params);
  } catch (const usage_error& e) {
    err_ << "error: " << e.what() << "\nusage: " << cmd->syntax << '\n';
    return exit_code::usage;
  } catch (const command_error& e) {
    err_ << "error: " << e.what() << '\n';
    return exit_code::failed;
  }
  auto res = conn_.call(req.method, req.params);
  if (res.status == call_status::ok) {
    if (req.method == "create_store" || req.method == "remove_store")
      store_cache_time_.reset(); // completion must see the change
    if (json)
      out_ << res.body.dump() << '\n';
    else
      cmd->render(res.body, req, out_);
    out_.flush();
    return exit_code::ok;
  }
  if (json && res.status == call_status::error) {
    out_ << nlohmann::json{{"error", res.body}}.dump() << '\n';
    out_.flush();
  }
  return report(res);
}

exit_code session::report(const call_outcome& res) {
  switch (res.status) {
    case call_status::ok:
      return exit_code::ok;
    case call_status::error:
      err_ << "error: " << error_text(res.body) << '\n';
      return exit_code::failed;
    case call_status::timeout:
      err_ << "error: timeout: " << res.text << '\n';
      return exit_code::failed;
    case call_status::disconnected:
      err_ << "error: connection_failed: " << res.text << '\n';
      return exit_code::connection;
  }
  return exit_code::failed;
}

exit_code session::run_local(const command_spec& cmd,
                             const parsed_args& args) {
  if (cmd.name == "help") {
    if (args.positional.empty()) {
      print_command_list(out_);
      return exit_code::ok;
    }
    auto other = find_command(args.positional[0]);
    if (other == nullptr)
      throw usage_error("unknown command '" + args.positional[0] + "'");
    print_command_help(*other, out_);
    return exit_code::ok;
  }
  if (cmd.name == "quit" || cmd.name == "exit") {
    quit_ = true;
    return exit_code::ok;
  }
  if (cmd.name == "use")
    return run_use(args);
  return exit_code::ok;
}

exit_code session::run_use(const parsed_args& args) {
  if (!opts_.interactive)
    throw usage_error("use works in interactive mode; give --store S "
                      "instead");
  if (args.has("none")) {
    if (!args.positional.empty())
      throw usage_error("give STORE or --none, not both");
    opts_.store.reset();
    out_ << "using the node's default store\n";
    return exit_code::ok;
  }
  if (args.positional.empty()) {
    if (opts_.store)
      out_ << "current store: " << *opts_.store << '\n';
    else
      out_ << "current store: the node's default store\n";
    return exit_code::ok;
  }
  // Switch only to a store that exists: a typo should fail here, not at the
  // next append.
  auto& id = args.positional[0];
  check_utf8(id);
  auto res = conn_.call("get_store_status", {{"store", id}});
  if (res.status != call_status::ok)
    return report(res);
  opts_.store = id;
  out_ << "using store " << id << " (" << cell_text(res.body.value(
    "status", nlohmann::json{})) << ")\n";
  return exit_code::ok;
}

std::vector<std::string> session::store_names() {
  using namespace std::chrono;
  auto now = steady_clock::now();
  if (store_cache_time_
      && now - *store_cache_time_ < milliseconds(store_cache_ttl_ms_default))
    return store_cache_;
  auto timeout = std::min(opts_.timeout_ms, completion_timeout_ms_default);
  auto res = conn_.call("list_stores", nlohmann::json::object(), timeout);
  store_cache_time_ = now; // also after a failure: do not retry per keypress
  if (res.status == call_status::ok) {
    store_cache_.clear();
    auto stores = res.body.value("stores", nlohmann::json::object());
    for (auto& item : stores.items())
      store_cache_.push_back(item.key());
  }
  return store_cache_;
}

} // namespace cxesdb::shell
