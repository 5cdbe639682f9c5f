// cxesdb-bench: a load generator for cxesdb's JSON-RPC client protocol
// (docs/benchmarks.md). One epoll thread drives every connection.

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "tools/bench/commands.hpp"
#include "tools/common/version.hpp"

using namespace cxesdb::tools;

namespace {

constexpr const char* usage_text = R"(usage: cxesdb-bench COMMAND [flags]

commands:
  append     C clients append K events of B bytes to N random streams
  read       random pages of get_events (--mode stream) or read_all (--mode all)
  subscribe  append-ack to live-delivery latency of a $all subscriber
  stores     create M stores, time each, then the node's idle CPU and RSS
  health     health requests: the generator's own ceiling

node address (every command):
  --host H (127.0.0.1)  --port P (7411)  --hosts H:P,... (round robin)
  --token T (env CXESDB_TOKEN)  authenticate every connection
  --tls-ca PEM  --tls-cert PEM --tls-key PEM  --tls-server-name N
                          speak TLS (any of these turns it on)

load flags (append, read, subscribe, health):
  --clients C (16)        connections, one request in flight each
  --pipeline P (1)        requests in flight per connection
  --duration S (10)       measured seconds      --warmup S (1)  excluded
  --timeout-ms MS (30000) client-side request timeout
  --node-pid PID          also sample the node's CPU over the window
  --quiet                 no progress lines     --json  report as JSON

append:    --streams N (1000) --event-bytes B (256) --batch K (1)
           --expected any|exact (any) --store ID --seed S (1) --rate EV/S (0)
           --stream-prefix TEXT (bench-<run>-)
read:      --mode stream|all (stream) --count N (100) --streams N (10)
           --stream-events N (1000) --store ID --stream-prefix (benchread-)
subscribe: --rate EV/S (1000) --streams N (1000) --event-bytes B (256)
           --batch K (1) --store ID --drain-ms MS (5000)
stores:    --count M (100) --prefix P (bench_) --node-pid PID
           --idle-seconds S (10) --cleanup --timeout-ms MS (60000)

exit: 0 ok, 1 transport error or could not start, 2 usage,
      3 subscriptions not implemented by the node
)";

} // namespace

int main(int argc, char** argv) {
  if (argc >= 2 && std::strcmp(argv[1], "--version") == 0) {
    std::printf("%s\n", cxesdb::tools::version_line("cxesdb-bench").c_str());
    return 0;
  }
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0
      || std::strcmp(argv[1], "-h") == 0 || std::strcmp(argv[1], "help") == 0) {
    std::fputs(usage_text, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  std::string command = argv[1];
  std::vector<std::string> args(argv + 2, argv + argc);
  try {
    flags f(args, {"json", "quiet", "cleanup"});
    if (command == "append")
      return run_append(f);
    if (command == "read")
      return run_read(f);
    if (command == "subscribe")
      return run_subscribe(f);
    if (command == "stores")
      return run_stores(f);
    if (command == "health")
      return run_health(f);
    throw usage_error("unknown command " + command);
  } catch (const usage_error& e) {
    std::fprintf(stderr, "cxesdb-bench: %s\n\n%s", e.what(), usage_text);
    return 2;
  }
}
