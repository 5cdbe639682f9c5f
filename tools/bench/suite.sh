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
"$node_bin" --data-dir "$data/node" --client-port "$port" --api-port 0 --cluster-port 0 \
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
row "W1 x64" append --clients 64 --streams 1000 --event-bytes 256 --batch 1
row "W2 x1" append --clients 1 --streams 1000 --event-bytes 256 --batch 100
row "W2 x16" append --clients 16 --streams 1000 --event-bytes 256 --batch 100
row "W2 x64" append --clients 64 --streams 1000 --event-bytes 256 --batch 100
row "W1 exact x64" append --clients 64 --streams 1000 --batch 1 --expected exact
row "health x64" health --clients 64
row "health x256" health --clients 256 --pipeline 4
row "read stream x16" read --mode stream --clients 16 --count 100
row "read all x16" read --mode all --clients 16 --count 100
