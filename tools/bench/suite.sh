#!/usr/bin/env bash
# tools/bench/suite.sh: runs the single-node table of docs/benchmarks.md.
#
# usage: tools/bench/suite.sh BUILD_DIR [RUNS] [SECONDS]
#
# Starts BUILD_DIR/tools/cxesdb-node on a fresh data directory under
# BUILD_DIR/bench-suite, runs each workload RUNS times (default 3) for
# SECONDS (default 10) with cxesdb-bench --json, and prints one Markdown row
# per workload whose every column is the median of the runs. The node is
# stopped at the end. Needs only bash, sort and grep.
#
# The peer: with Debian's redis-server and redis-tools installed
# (`apt-get install redis-server redis-tools`), the same run ends with Redis
# appending the same W1 (one XADD of a 356-byte payload to one of 1,000
# streams per request, 64 clients, no pipelining) with `appendonly yes` and
# `appendfsync always` (durable before each answer, as cxesdb is), and the
# ratio of cxesdb's W1 x64 to it.

set -euo pipefail

build=${1:?usage: suite.sh BUILD_DIR [RUNS] [SECONDS]}
runs=${2:-3}
secs=${3:-10}
port=${CXESDB_SUITE_PORT:-17511}
bench="$build/tools/bench/cxesdb-bench"
node_bin="$build/tools/cxesdb-node"
data="$build/bench-suite"

rm -rf "$data"
mkdir -p "$data"
"$node_bin" --data-dir "$data/node" --client-port "$port" --api-port 0 --cluster-port 0 --http-port 0 \
  >"$data/node.log" 2>&1 &
node_pid=$!
trap 'kill "$node_pid" 2>/dev/null || true; wait "$node_pid" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  grep -q "listening for clients" "$data/node.log" && break
  sleep 0.1
done

# field NAME JSON: the number after "NAME": in JSON.
field() {
  grep -o "\"$1\":[-0-9.e]*" <<<"$2" | head -1 | cut -d: -f2
}

# median of the numbers on stdin, one per line.
median() {
  sort -g | awk '{a[NR]=$1} END {if (NR == 0) print "-"; else print a[int((NR+1)/2)]}'
}

echo "| workload | command | events/s | requests/s | p50 ms | p99 ms | p99.9 ms | errors | bench CPU % | node CPU % |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"

# row LABEL ARGS...: runs cxesdb-bench ARGS RUNS times and prints the row.
row() {
  local label=$1
  shift
  local results=()
  for _ in $(seq "$runs"); do
    results+=("$("$bench" "$@" --port "$port" --duration "$secs" \
      --node-pid "$node_pid" --json --quiet)")
  done
  local cols=""
  for f in events_per_s requests_per_s p50_ms p99_ms p999_ms errors \
           bench_cpu_percent node_cpu_percent; do
    local m
    m=$(for r in "${results[@]}"; do field "$f" "$r"; done | median)
    cols="$cols | $m"
  done
  echo "| $label | \`cxesdb-bench $*\` $cols |"
}

row "W1 x1" append --clients 1 --streams 1000 --event-bytes 256 --batch 1
row "W1 x16" append --clients 16 --streams 1000 --event-bytes 256 --batch 1
w1_64=$(row "W1 x64" append --clients 64 --streams 1000 --event-bytes 256 --batch 1)
echo "$w1_64"
row "W2 x1" append --clients 1 --streams 1000 --event-bytes 256 --batch 100
row "W2 x16" append --clients 16 --streams 1000 --event-bytes 256 --batch 100
row "W2 x64" append --clients 64 --streams 1000 --event-bytes 256 --batch 100
row "W1 exact x64" append --clients 64 --streams 1000 --batch 1 --expected exact
row "health x64" health --clients 64
row "health x256" health --clients 256 --pipeline 4
row "read stream x16" read --mode stream --clients 16 --count 100
row "read all x16" read --mode all --clients 16 --count 100

# -- the peer: Redis with appendfsync always, same machine, same run ----------

if ! command -v redis-server >/dev/null || ! command -v redis-benchmark >/dev/null; then
  echo
  echo "redis: not installed (apt-get install redis-server redis-tools); no peer row"
  exit 0
fi
redis_port=${CXESDB_SUITE_REDIS_PORT:-17579}
mkdir -p "$data/redis"
redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$data/redis" \
  --appendonly yes --appendfsync always --save '' --daemonize no \
  >"$data/redis.log" 2>&1 &
redis_pid=$!
trap 'kill "$node_pid" "$redis_pid" 2>/dev/null || true; wait 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break
  sleep 0.1
done
payload=$(head -c 356 /dev/zero | tr '\0' 'x')
rps=()
p50=()
p99=()
for _ in $(seq "$runs"); do
  # --csv: "test","rps","avg","min","p50","p95","p99","max" (ms)
  line=$(redis-benchmark -p "$redis_port" -c 64 -P 1 -r 1000 \
           -n $((secs * 30000)) --csv \
           XADD "s:__rand_int__" '*' d "$payload" | tail -1 | tr -d '"')
  rps+=("$(cut -d, -f2 <<<"$line")")
  p50+=("$(cut -d, -f5 <<<"$line")")
  p99+=("$(cut -d, -f7 <<<"$line")")
done
r_rps=$(printf '%s\n' "${rps[@]}" | median)
r_p50=$(printf '%s\n' "${p50[@]}" | median)
r_p99=$(printf '%s\n' "${p99[@]}" | median)
echo "| Redis XADD x64 (appendfsync always) | \`redis-benchmark -c 64 -P 1 -r 1000 XADD s:__rand_int__ * d <356 B>\` | $r_rps | $r_rps | $r_p50 | $r_p99 | - | - | - | - |"
ours=$(cut -d'|' -f4 <<<"$w1_64" | tr -d ' ')
echo
echo "W1 x64: cxesdb $ours events/s, Redis $r_rps; ratio $(awk -v a="$ours" -v b="$r_rps" 'BEGIN {printf "%.2f", a / b}')"
