#!/usr/bin/env bash
# tools/bench/three_nodes.sh: runs the three-node rows of docs/benchmarks.md.
#
# usage: tools/bench/three_nodes.sh BUILD_DIR [RUNS] [SECONDS]
#
# Starts three BUILD_DIR/tools/cxesdb-node on loopback (n2 and n3 join n1
# through --seeds) on fresh data directories under BUILD_DIR/bench-three,
# waits until the default store has three members and a leader
# (cluster_status), runs W1 x64 and W2 x64 RUNS times (default 3) for
# SECONDS (default 5) with the clients spread over the three nodes, and
# prints one Markdown row per workload with the medians. The nodes are
# stopped at the end. Needs bash and python3. CXESDB_NODE_ARGS, when set,
# is given to every node (split at spaces), e.g. the cluster TLS flags and
# a cluster secret file to measure what they cost.

set -euo pipefail

build=${1:?usage: three_nodes.sh BUILD_DIR [RUNS] [SECONDS]}
runs=${2:-3}
secs=${3:-5}
base=${CXESDB_THREE_PORT:-17611}
bench="$build/tools/bench/cxesdb-bench"
node_bin="$build/tools/cxesdb-node"
data="$build/bench-three"

rm -rf "$data"
mkdir -p "$data"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

client_port() { echo $((base + 10 * ($1 - 1))); }
cluster_port() { echo $((base + 10 * ($1 - 1) + 1)); }

for i in 1 2 3; do
  seeds=()
  if [ "$i" -gt 1 ]; then seeds=(--seeds "127.0.0.1:$(cluster_port 1)"); fi
  "$node_bin" --data-dir "$data/n$i" --node-name "n$i" \
    --client-port "$(client_port "$i")" --cluster-port "$(cluster_port "$i")" \
    --api-port 0 --http-port 0 "${seeds[@]}" ${CXESDB_NODE_ARGS:-} \
    >"$data/n$i.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do
    grep -q "listening for clients" "$data/n$i.log" && break
    sleep 0.1
  done
done

# The default store grows to three replicas once n2 and n3 joined.
members=0
for _ in $(seq 100); do
  members=$(python3 - "$(client_port 1)" <<'PY'
import json, socket, sys
try:
    with socket.create_connection(("127.0.0.1", int(sys.argv[1])), 2) as c:
        c.sendall(b'{"jsonrpc":"2.0","id":1,"method":"cluster_status"}\n')
        s = json.loads(c.makefile().readline())["result"]["stores"]["default"]
        print(len(s["members"]) if s.get("leader") else 0)
except Exception:
    print(0)
PY
) || members=0
  [ "$members" = 3 ] && break
  sleep 0.2
done
if [ "$members" != 3 ]; then
  echo "three_nodes.sh: the default store did not reach three members" >&2
  exit 1
fi

hosts="127.0.0.1:$(client_port 1),127.0.0.1:$(client_port 2),127.0.0.1:$(client_port 3)"
echo "| workload | command | events/s | p50 ms | p99 ms | errors |"
echo "|---|---|---:|---:|---:|---:|"
row() {
  local label=$1
  shift
  local results=()
  for _ in $(seq "$runs"); do
    results+=("$("$bench" append --hosts "$hosts" --streams 1000 \
      --event-bytes 256 --duration "$secs" "$@" --json --quiet | tail -1)")
  done
  printf '%s\n' "${results[@]}" | python3 -c '
import json, statistics, sys
rows = [json.loads(l) for l in sys.stdin if l.strip()]
med = lambda k: statistics.median(r[k] for r in rows)
print("| %s | `cxesdb-bench append --hosts ... %s` | %.0f | %.2f | %.1f | %d |" % (
    sys.argv[1], sys.argv[2], med("events_per_s"), med("p50_ms"),
    med("p99_ms"), sum(r["errors"] for r in rows)))' "$label" "$*"
}
row "W1 x64" --clients 64 --batch 1
row "W2 x64" --clients 64 --batch 100
