// The node's option resolution (tools/node/options.*), the log line
// formats (actors/log.*) and the process figures of /metrics: no node.

#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <unistd.h>
#include <vector>

#include <nlohmann/json.hpp>

#include "actors/log.hpp"
#include "gateway/http/process_figures.hpp"
#include "tests/temp_dir.hpp"
#include "tools/node/options.hpp"

using namespace cxesdb;
using tools::option_source;

namespace {

const tools::node_flag table[] = {
  {"data-dir", "./data", "directory"},
  {"client-port", "7411", "port"},
  {"node-name", "node1", "name"},
  {"log-level", "info", "level"},
  {"config", "", "file"},
};

struct fixture {
  std::map<std::string, std::string> env;
  std::string error;

  std::optional<tools::node_options>
  resolve(const std::vector<std::string>& args) {
    error.clear();
    return tools::resolve_node_options(
      table, std::size(table), args,
      [this](const std::string& name) -> const char* {
        auto i = env.find(name);
        return i == env.end() ? nullptr : i->second.c_str();
      },
      error);
  }
};

std::string write_file(const std::string& dir, const std::string& name,
                       const std::string& text) {
  auto path = dir + "/" + name;
  std::ofstream{path} << text;
  return path;
}

} // namespace

TEST_CASE("a flag's environment variable is CXESDB_ and its name in upper "
          "case with underscores") {
  CHECK(tools::env_var_name("data-dir") == "CXESDB_DATA_DIR");
  CHECK(tools::env_var_name("max-inflight-per-connection")
        == "CXESDB_MAX_INFLIGHT_PER_CONNECTION");
  CHECK(tools::env_var_name("seeds") == "CXESDB_SEEDS");
}

TEST_CASE_FIXTURE(fixture, "defaults fill every flag of the table") {
  auto opts = resolve({});
  REQUIRE(opts);
  CHECK(opts->values.size() == std::size(table));
  CHECK(opts->values["data-dir"] == "./data");
  CHECK(opts->sources["data-dir"] == option_source::default_value);
}

TEST_CASE_FIXTURE(fixture, "a flag beats the environment, which beats the "
                           "config file, which beats the default") {
  tests::temp_dir dir;
  auto cfg = write_file(dir.path, "c.json",
                        R"({"data-dir": "/from/config", "client-port": 1,
                            "node-name": "config-name"})");
  env["CXESDB_CONFIG"] = cfg;
  env["CXESDB_CLIENT_PORT"] = "2";
  env["CXESDB_NODE_NAME"] = "env-name";
  auto opts = resolve({"--node-name", "flag-name"});
  REQUIRE_MESSAGE(opts, error);
  CHECK(opts->values["node-name"] == "flag-name");
  CHECK(opts->sources["node-name"] == option_source::flag);
  CHECK(opts->values["client-port"] == "2");
  CHECK(opts->sources["client-port"] == option_source::environment);
  CHECK(opts->values["data-dir"] == "/from/config");
  CHECK(opts->sources["data-dir"] == option_source::config_file);
  CHECK(opts->values["log-level"] == "info");
  CHECK(opts->sources["log-level"] == option_source::default_value);
}

TEST_CASE_FIXTURE(fixture, "--config on the command line beats "
                           "CXESDB_CONFIG") {
  tests::temp_dir dir;
  auto a = write_file(dir.path, "a.json", R"({"node-name": "a"})");
  auto b = write_file(dir.path, "b.json", R"({"node-name": "b"})");
  env["CXESDB_CONFIG"] = a;
  auto opts = resolve({"--config=" + b});
  REQUIRE_MESSAGE(opts, error);
  CHECK(opts->values["node-name"] == "b");
}

TEST_CASE_FIXTURE(fixture, "an empty environment variable is a value") {
  env["CXESDB_DATA_DIR"] = "";
  auto opts = resolve({});
  REQUIRE(opts);
  CHECK(opts->values["data-dir"].empty());
  CHECK(opts->sources["data-dir"] == option_source::environment);
}

TEST_CASE_FIXTURE(fixture, "environment variables that name no flag are "
                           "ignored") {
  env["CXESDB_NODE"] = "/usr/bin/cxesdb-node"; // the test harness's own
  env["CXESDB_NO_SUCH_FLAG"] = "x";
  auto opts = resolve({});
  REQUIRE(opts);
  CHECK(opts->values.count("node") == 0);
}

TEST_CASE_FIXTURE(fixture, "bad input is refused with a reason") {
  CHECK(!resolve({"--no-such-flag", "1"}));
  CHECK(error.find("unknown flag --no-such-flag") != std::string::npos);
  CHECK(!resolve({"--data-dir"}));
  CHECK(error.find("needs a value") != std::string::npos);
  CHECK(!resolve({"stray"}));
  CHECK(error.find("unexpected argument") != std::string::npos);
  CHECK(!resolve({"--config", "/nonexistent/cxesdb.json"}));
  CHECK(error.find("cannot read config file") != std::string::npos);
  tests::temp_dir dir;
  CHECK(!resolve({"--config", write_file(dir.path, "x.json", "[1]")}));
  CHECK(error.find("not a JSON object") != std::string::npos);
  CHECK(!resolve({"--config", write_file(dir.path, "y.json",
                                         R"({"bogus": 1})")}));
  CHECK(error.find("unknown key 'bogus'") != std::string::npos);
  CHECK(!resolve({"--config", write_file(dir.path, "z.json",
                                         R"({"data-dir": {"a": 1}})")}));
  CHECK(error.find("must be a string, a number or a boolean")
        != std::string::npos);
}

TEST_CASE_FIXTURE(fixture, "the config file's store_templates is kept as "
                           "JSON text, not as a flag") {
  tests::temp_dir dir;
  auto path = write_file(dir.path, "t.json",
                         R"({"store_templates": {"small": {"timeout_ms": 5}},
                             "node-name": "n2"})");
  auto r = resolve({"--config", path});
  REQUIRE(r);
  CHECK(nlohmann::json::parse(r->values.at(tools::store_templates_key))
        == nlohmann::json{{"small", {{"timeout_ms", 5}}}});
  CHECK(r->values.at("node-name") == "n2");
  CHECK(!resolve({"--store_templates", "{}"}));
  CHECK(resolve({})->values.count(tools::store_templates_key) == 0);
}

TEST_CASE_FIXTURE(fixture, "--help and --version stop the parse") {
  auto h = resolve({"--help", "--no-such-flag"});
  REQUIRE(h);
  CHECK(h->help);
  auto v = resolve({"--version"});
  REQUIRE(v);
  CHECK(v->version);
}

TEST_CASE("the usage names the environment variables") {
  std::ostringstream out;
  tools::write_node_usage(out, table, std::size(table));
  CHECK(out.str().find("CXESDB_<FLAG>") != std::string::npos);
  CHECK(out.str().find("--data-dir") != std::string::npos);
  CHECK(out.str().find("--version") != std::string::npos);
}

TEST_CASE("log levels and formats parse from their names") {
  CHECK(actors::parse_log_level("debug") == actors::log_level::debug);
  CHECK(actors::parse_log_level("info") == actors::log_level::info);
  CHECK(actors::parse_log_level("warn") == actors::log_level::warning);
  CHECK(actors::parse_log_level("error") == actors::log_level::error);
  CHECK(!actors::parse_log_level("verbose"));
  CHECK(actors::parse_log_format("json") == actors::log_format::json);
  CHECK(actors::parse_log_format("text") == actors::log_format::text);
  CHECK(!actors::parse_log_format("xml"));
}

TEST_CASE("a JSON log line is one object with ts, level, msg and the "
          "fields") {
  auto line = actors::format_log_line(
    actors::log_format::json, "2026-12-07T05:05:08.123Z",
    actors::log_level::warning, "store \"x\"\nfailed",
    {{"store", "x"}, {"msg", "clash"}, {"bytes", "\x01"}});
  CHECK(line.find('\n') == std::string::npos);
  auto j = nlohmann::json::parse(line);
  CHECK(j["ts"] == "2026-12-07T05:05:08.123Z");
  CHECK(j["level"] == "warn");
  CHECK(j["msg"] == "store \"x\"\nfailed");
  CHECK(j["store"] == "x");
  CHECK(j["field_msg"] == "clash");
  CHECK(j["bytes"] == "\x01");
}

TEST_CASE("a text log line keeps its old shape: the message alone") {
  auto line = actors::format_log_line(
    actors::log_format::text, "2026-12-07T05:05:08.123Z",
    actors::log_level::info, "listening for clients on 127.0.0.1:7411",
    {{"address", "127.0.0.1:7411"}});
  CHECK(line
        == "2026-12-07T05:05:08.123Z INFO listening for clients on "
           "127.0.0.1:7411");
}

TEST_CASE("CPU seconds come from fields 14 and 15 of /proc/PID/stat, after "
          "the last ')' of the name") {
  // pid (name with ") x" in it) state ppid ... utime=250 stime=150
  std::string stat = "42 (a) b) c) S 1 42 42 0 -1 4194560 100 0 0 0 250 150 "
                     "0 0 20 0 9 0 100 1000 200";
  auto cpu = gateway::http::parse_stat_cpu_seconds(stat, 100);
  REQUIRE(cpu);
  CHECK(*cpu == doctest::Approx(4.0));
  CHECK(!gateway::http::parse_stat_cpu_seconds("42 no parenthesis", 100));
  CHECK(!gateway::http::parse_stat_cpu_seconds("42 (x) S 1 2", 100));
  CHECK(!gateway::http::parse_stat_cpu_seconds(stat, 0));
}

TEST_CASE("this process's figures are readable") {
  auto p = gateway::http::read_process_figures();
  REQUIRE(p);
  CHECK(p->resident_memory_bytes > 0);
  CHECK(p->open_fds >= 3);
}
