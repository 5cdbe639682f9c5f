#include "tools/shell/command_args.hpp"

#include <cerrno>
#include <cstdlib>

namespace cxesdb::shell {

std::optional<std::string> parsed_args::get(const std::string& name) const {
  auto i = options.find(name);
  if (i == options.end())
    return std::nullopt;
  return i->second;
}

parsed_args parse_args(const std::vector<option_spec>& options,
                       const std::vector<std::string>& words) {
  parsed_args res;
  bool options_done = false;
  for (size_t i = 0; i < words.size(); ++i) {
    auto& word = words[i];
    if (options_done || word.size() < 3 || word.compare(0, 2, "--") != 0) {
      if (word == "--" && !options_done)
        options_done = true;
      else
        res.positional.push_back(word);
      continue;
    }
    auto name = word.substr(2);
    std::optional<std::string> value;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name.erase(eq);
    }
    const option_spec* spec = nullptr;
    for (auto& opt : options)
      if (opt.name == name)
        spec = &opt;
    if (spec == nullptr)
      throw usage_error("unknown option --" + name);
    if (spec->value_name.empty()) {
      if (value)
        throw usage_error("option --" + name + " takes no value");
      res.options[name] = "";
      continue;
    }
    if (!value) {
      if (i + 1 >= words.size())
        throw usage_error("option --" + name + " needs a value ("
                          + spec->value_name + ")");
      value = words[++i];
    }
    res.options[name] = *value;
  }
  return res;
}

int64_t parse_int(const std::string& text, const std::string& what) {
  size_t digits_from = !text.empty() && text[0] == '-' ? 1 : 0;
  if (text.size() == digits_from
      || text.find_first_not_of("0123456789", digits_from)
           != std::string::npos)
    throw usage_error(what + " must be an integer, got '" + text + "'");
  errno = 0;
  auto val = std::strtoll(text.c_str(), nullptr, 10);
  if (errno == ERANGE)
    throw usage_error(what + " is out of range: " + text);
  return static_cast<int64_t>(val);
}

nlohmann::json parse_json(const std::string& text, const std::string& what) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded())
    throw usage_error(what + " is not valid JSON: " + text);
  return j;
}

} // namespace cxesdb::shell
