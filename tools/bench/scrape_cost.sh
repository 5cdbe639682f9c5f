#!/usr/bin/env bash
# tools/bench/scrape_cost.sh: what scraping /metrics costs appends
# (docs/benchmarks.md, issue 13's "every 100 ms during W1 x64" row).
#
# usage: tools/bench/scrape_cost.sh BUILD_DIR [RUNS] [SECONDS] [INTERVAL_MS]
#
# Starts BUILD_DIR/tools/cxesdb-node on a fresh data directory under
# BUILD_DIR/bench-scrape, then runs W1 x64 (cxesdb-bench append --clients
# 64 --streams 1000 --event-bytes 256 --batch 1) RUNS times (default 5) for
# SECONDS (default 10) without a scraper and RUNS times with one that GETs
# /metrics every INTERVAL_MS (default 100), alternating, so that both see
# the same machine. Prints the median events/s and p99 of each, the
# difference, and the scraper's own figures (scrapes, median scrape time).

set -euo pipefail

build=${1:?usage: scrape_cost.sh BUILD_DIR [RUNS] [SECONDS] [INTERVAL_MS]}
runs=${2:-5}
secs=${3:-10}
interval_ms=${4:-100}
port=${CXESDB_SCRAPE_PORT:-17521}
bench="$build/tools/bench/cxesdb-bench"
node_bin="$build/tools/cxesdb-node"
data="$build/bench-scrape"

rm -rf "$data"
mkdir -p "$data"
"$node_bin" --data-dir "$data/node" --client-port "$port" --api-port 0 \
  --cluster-port 0 --http-port 0 >"$data/node.log" 2>&1 &
node_pid=$!
scraper_pid=""
cleanup() {
  [ -n "$scraper_pid" ] && kill "$scraper_pid" 2>/dev/null || true
  kill "$node_pid" 2>/dev/null || true
  wait "$node_pid" 2>/dev/null || true
}
trap cleanup EXIT
http_port=""
for _ in $(seq 100); do
  http_port=$(grep -o 'listening for http on [^ ]*:[0-9]*' "$data/node.log" \
    | head -1 | sed 's/.*://') || true
  grep -q "listening for clients" "$data/node.log" && [ -n "$http_port" ] && break
  sleep 0.1
done
[ -n "$http_port" ] || { echo "no HTTP port in $data/node.log" >&2; exit 1; }

field() {
  grep -o "\"$1\":[-0-9.e]*" <<<"$2" | head -1 | cut -d: -f2
}

median() {
  sort -g | awk '{a[NR]=$1} END {if (NR == 0) print "-"; else print a[int((NR+1)/2)]}'
}

# The scraper: one GET of /metrics per interval, each on a new connection
# (the exposer closes it after the answer); prints its count, median time
# and the body's size when stopped (it runs in the background: exec, so
# that the TERM reaches it).
scrape() {
  exec python3 - "$http_port" "$interval_ms" <<'PY'
import http.client, signal, sys, time
port, interval = int(sys.argv[1]), int(sys.argv[2]) / 1000.0
times, size = [], 0
def done(*_):
    times.sort()
    med = times[len(times) // 2] * 1000 if times else 0
    print(f"{len(times)} {med:.2f} {size}", flush=True)
    sys.exit(0)
signal.signal(signal.SIGTERM, done)
nxt = time.monotonic()
while True:
    t = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/metrics")
    body = conn.getresponse().read()
    conn.close()
    times.append(time.monotonic() - t)
    size = len(body)
    nxt += interval
    time.sleep(max(0, nxt - time.monotonic()))
PY
}

w1=(append --clients 64 --streams 1000 --event-bytes 256 --batch 1)
plain=()
scraped=()
plain_p99=()
scraped_p99=()
scrapes=()
for _ in $(seq "$runs"); do
  r=$("$bench" "${w1[@]}" --port "$port" --duration "$secs" --json --quiet)
  plain+=("$(field events_per_s "$r")")
  plain_p99+=("$(field p99_ms "$r")")
  scrape >"$data/scraper.out" &
  scraper_pid=$!
  r=$("$bench" "${w1[@]}" --port "$port" --duration "$secs" --json --quiet)
  kill -TERM "$scraper_pid" 2>/dev/null || true
  wait "$scraper_pid" || true
  scraper_pid=""
  scraped+=("$(field events_per_s "$r")")
  scraped_p99+=("$(field p99_ms "$r")")
  scrapes+=("$(cat "$data/scraper.out")")
done

p=$(printf '%s\n' "${plain[@]}" | median)
s=$(printf '%s\n' "${scraped[@]}" | median)
echo "| W1 x64 | events/s (median of $runs x ${secs} s) | p99 ms |"
echo "|---|---:|---:|"
echo "| no scraper | $p | $(printf '%s\n' "${plain_p99[@]}" | median) |"
echo "| /metrics every ${interval_ms} ms | $s | $(printf '%s\n' "${scraped_p99[@]}" | median) |"
awk -v p="$p" -v s="$s" 'BEGIN { printf "difference: %+.1f %%\n", (s - p) * 100 / p }'
echo "runs, no scraper: ${plain[*]}"
echo "runs, scraped:    ${scraped[*]}"
echo "scraper (scrapes, median ms, bytes) per run: $(printf '[%s] ' "${scrapes[@]}")"
