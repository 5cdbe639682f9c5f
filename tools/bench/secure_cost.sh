#!/usr/bin/env bash
# tools/bench/secure_cost.sh: what TLS and authentication on the client port
# cost appends (docs/benchmarks.md, issue 12's benchmark).
#
# usage: tools/bench/secure_cost.sh BUILD_DIR [RUNS] [SECONDS]
#
# Makes a CA, a node certificate (openssl) and an auth file with one admin
# token under BUILD_DIR/bench-secure, starts two nodes of BUILD_DIR: one
# plain, one with --tls-cert/--tls-key and --auth-file, and runs W1 x64
# (append --clients 64 --streams 1000 --event-bytes 256 --batch 1) and W2
# x16 (--clients 16 --batch 100) against each, RUNS times (default 5) for
# SECONDS (default 10), alternating plain and secured so that both see the
# same machine (the idle node meanwhile costs about 1 % of a core). Every
# connection of the bench authenticates over TLS once, when it connects.
# Prints the medians of events/s and p99, and the difference.

set -euo pipefail

build=${1:?usage: secure_cost.sh BUILD_DIR [RUNS] [SECONDS]}
runs=${2:-5}
secs=${3:-10}
plain_port=${CXESDB_SECURE_PLAIN_PORT:-17531}
secure_port=${CXESDB_SECURE_PORT:-17532}
bench="$build/tools/bench/cxesdb-bench"
node_bin="$build/tools/cxesdb-node"
dir="$build/bench-secure"

rm -rf "$dir"
mkdir -p "$dir"
(
  cd "$dir"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout ca.key -out ca.pem -days 2 -subj /CN=bench-ca 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout node.key -out node.csr -subj /CN=node 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1\n' >node.ext
  openssl x509 -req -in node.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
    -out node.pem -days 2 -extfile node.ext 2>/dev/null
)
token=$(openssl rand -hex 24)
digest=$(printf %s "$token" | sha256sum | cut -d' ' -f1)
printf '{"users":[{"name":"bench","token_sha256":"%s","role":"admin"}]}\n' \
  "$digest" >"$dir/auth.json"

"$node_bin" --data-dir "$dir/plain" --client-port "$plain_port" --api-port 0 \
  --cluster-port 0 --http-port off >"$dir/plain.log" 2>&1 &
plain_pid=$!
"$node_bin" --data-dir "$dir/secure" --client-port "$secure_port" --api-port 0 \
  --cluster-port 0 --http-port off --tls-cert "$dir/node.pem" \
  --tls-key "$dir/node.key" --auth-file "$dir/auth.json" \
  >"$dir/secure.log" 2>&1 &
secure_pid=$!
cleanup() {
  kill "$plain_pid" "$secure_pid" 2>/dev/null || true
  wait "$plain_pid" "$secure_pid" 2>/dev/null || true
}
trap cleanup EXIT
for log in plain secure; do
  for _ in $(seq 100); do
    grep -q "listening for clients" "$dir/$log.log" && break
    sleep 0.1
  done
  grep -q "listening for clients" "$dir/$log.log" \
    || { echo "the $log node did not start: $dir/$log.log" >&2; exit 1; }
done

field() {
  grep -o "\"$1\":[-0-9.e]*" <<<"$2" | head -1 | cut -d: -f2
}

median() {
  sort -g | awk '{a[NR]=$1} END {if (NR == 0) print "-"; else print a[int((NR+1)/2)]}'
}

secure=(--tls-ca "$dir/ca.pem" --token "$token")
declare -A rate p99
for w in W1 W2; do
  if [ "$w" = W1 ]; then
    shape=(append --clients 64 --streams 1000 --event-bytes 256 --batch 1)
  else
    shape=(append --clients 16 --streams 1000 --event-bytes 256 --batch 100)
  fi
  for _ in $(seq "$runs"); do
    r=$("$bench" "${shape[@]}" --port "$plain_port" --duration "$secs" \
      --node-pid "$plain_pid" --json --quiet)
    rate[$w,plain]+="$(field events_per_s "$r") "
    p99[$w,plain]+="$(field p99_ms "$r") "
    r=$("$bench" "${shape[@]}" --port "$secure_port" "${secure[@]}" \
      --duration "$secs" --node-pid "$secure_pid" --json --quiet)
    rate[$w,secure]+="$(field events_per_s "$r") "
    p99[$w,secure]+="$(field p99_ms "$r") "
  done
done

echo "| workload | node | events/s (median of $runs x ${secs} s) | p99 ms |"
echo "|---|---|---:|---:|"
for w in W1 W2; do
  for k in plain secure; do
    label=$k
    [ "$k" = secure ] && label="TLS + token"
    echo "| $w | $label | $(tr ' ' '\n' <<<"${rate[$w,$k]}" | grep . | median) | $(tr ' ' '\n' <<<"${p99[$w,$k]}" | grep . | median) |"
  done
done
for w in W1 W2; do
  p=$(tr ' ' '\n' <<<"${rate[$w,plain]}" | grep . | median)
  s=$(tr ' ' '\n' <<<"${rate[$w,secure]}" | grep . | median)
  awk -v w="$w" -v p="$p" -v s="$s" \
    'BEGIN { printf "%s: TLS + token %+.1f %%\n", w, (s - p) * 100 / p }'
  echo "$w runs, plain:  ${rate[$w,plain]}"
  echo "$w runs, secure: ${rate[$w,secure]}"
done
