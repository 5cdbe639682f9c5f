#!/usr/bin/env python3
"""W1 from Python: what a Python application gets from one node.

W1 as cxesdb-bench runs it (docs/benchmarks.md): every request appends one
event of 256 bytes of data and about 100 bytes of metadata to one of 1,000
streams picked at random, with expected_version "any". ``--threads`` threads
(8) share ``--connections`` clients (1: every request pipelined on one
connection) for ``--duration`` seconds after ``--warmup`` seconds, and the
script prints events/s and the latency percentiles of the appends.

    PYTHONPATH=gateway/client/python python3 gateway/client/python/bench_w1.py \\
        --port 7411 --threads 8 --duration 10
"""

import argparse
import json
import os
import random
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cxesdb  # noqa: E402

# About 100 bytes, as cxesdb-bench's correlation metadata.
METADATA = {"correlation_id": "0b7c1d2e-3f40-4a51-8b62-7c8d9e0fa1b2",
            "causation_id": "c-000001", "source": "cxesdb-bench-py"}
# {"p":"xxx..."} is 256 bytes of JSON, as cxesdb-bench's --event-bytes 256.
DATA = {"p": "x" * 248}


def percentile(sorted_values, p):
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, int(round(p / 100.0 * len(sorted_values)
                                              + 0.5)) - 1)
    return sorted_values[max(0, k)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=7411)
    ap.add_argument("--store", default=None, help="default: the node's")
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--connections", type=int, default=1,
                    help="clients the threads share round robin")
    ap.add_argument("--streams", type=int, default=1000)
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--warmup", type=float, default=1.0)
    ap.add_argument("--json", action="store_true", help="one JSON line")
    args = ap.parse_args()

    clients = [cxesdb.Client(args.host, args.port)
               for _ in range(args.connections)]
    assert len(json.dumps(DATA, separators=(",", ":"))) == 256
    start = time.monotonic()
    measure_from = start + args.warmup
    stop_at = measure_from + args.duration
    latencies = [[] for _ in range(args.threads)]
    errors = [0] * args.threads

    def run(i):
        c = clients[i % len(clients)]
        rnd = random.Random(i)
        lat = latencies[i]
        while True:
            t0 = time.monotonic()
            if t0 >= stop_at:
                return
            stream = "bench-%d" % rnd.randrange(args.streams)
            try:
                c.append(stream, [{"event_type": "BenchEvent", "data": DATA,
                                   "metadata": METADATA}], store=args.store)
            except cxesdb.Error:
                if t0 >= measure_from:
                    errors[i] += 1
                continue
            if t0 >= measure_from:
                lat.append(time.monotonic() - t0)

    threads = [threading.Thread(target=run, args=(i,))
               for i in range(args.threads)]
    cpu0 = time.process_time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    cpu = time.process_time() - cpu0
    for c in clients:
        c.close()
    all_lat = sorted(x for lat in latencies for x in lat)
    n = len(all_lat)
    report = {
        "threads": args.threads, "connections": args.connections,
        "streams": args.streams, "duration_s": args.duration,
        "events": n, "events_per_s": round(n / args.duration, 1),
        "p50_ms": round(percentile(all_lat, 50) * 1e3, 2),
        "p99_ms": round(percentile(all_lat, 99) * 1e3, 2),
        "p999_ms": round(percentile(all_lat, 99.9) * 1e3, 2),
        "errors": sum(errors),
        "client_cpu_percent": round(100.0 * cpu / (time.monotonic() - start),
                                    1),
    }
    if args.json:
        print(json.dumps(report))
    else:
        print("W1 from Python: %(threads)d threads, %(connections)d "
              "connection(s), %(streams)d streams, %(duration_s).0f s" % report)
        print("events/s %(events_per_s).0f  p50 %(p50_ms).2f ms  p99 "
              "%(p99_ms).2f ms  p99.9 %(p999_ms).2f ms  errors %(errors)d  "
              "client CPU %(client_cpu_percent).0f %%" % report)
    return 0 if n else 1


if __name__ == "__main__":
    sys.exit(main())
