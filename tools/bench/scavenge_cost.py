#!/usr/bin/env python3
"""tools/bench/scavenge_cost.py: what a scavenge of a large store costs the
appends that go on meanwhile (docs/benchmarks.md, issue 14).

usage: tools/bench/scavenge_cost.py BUILD_DIR [--gib G] [--runs N]
                                    [--seconds S] [--port P]
                                    [--throttle PERCENT]

Starts BUILD_DIR/tools/cxesdb-node on a fresh data directory under
BUILD_DIR/bench-scavenge (the background scavenger off; the node's
--scavenge-throttle-percent PERCENT when given), creates the store
`big` and fills it with W2 batches (cxesdb-bench append --batch 100
--event-bytes 256 --clients 16, streams fill-0 to fill-999) until its
database files hold G GiB (default 1). Then:

1. W1 x64 on other streams of the same store (cxesdb-bench append --store
   big --stream-prefix live- --clients 64 --batch 1), N runs (default 3) of
   S seconds (default 5): the baseline;
2. hard-deletes fill-0 to fill-899 (90 % of the filled events);
3. calls scavenge_store and, while it runs, repeats the same W1 runs back
   to back; only runs that end before the scavenge answers count;
4. prints both medians (events/s, p99, p99.9, max), the scavenge's time,
   removed events and reclaimed bytes, and the store's size before and
   after. Standard library only; the node is stopped and its data removed
   at the end.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time

from jsonrpc import call, start_node


def store_bytes(store_dir):
    total = 0
    for name in ("store.db", "store.db-wal"):
        try:
            total += os.path.getsize(os.path.join(store_dir, name))
        except OSError:
            pass
    return total


def ok(port, method, params, timeout=30.0):
    r = call(port, method, params, timeout)
    if "result" not in r:
        raise RuntimeError(f"{method}: {r}")
    return r["result"]


def bench(bench_bin, port, args, seconds):
    out = subprocess.run(
        [bench_bin, "append", "--port", str(port), "--duration", str(seconds),
         "--warmup", "0", "--json", "--quiet"] + args,
        check=True, capture_output=True, text=True).stdout
    return json.loads(out)


W1 = ["--store", "big", "--stream-prefix", "live-", "--clients", "64",
      "--streams", "1000", "--event-bytes", "256", "--batch", "1"]


def summary(runs):
    def med(key):
        return statistics.median(r[key] for r in runs)
    return (f"{med('events_per_s'):,.0f} | {med('p99_ms'):.1f} | "
            f"{med('p999_ms'):.1f} | {max(r['max_ms'] for r in runs):.1f} | "
            f"{sum(r['errors'] for r in runs)} | {len(runs)}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("build")
    ap.add_argument("--gib", type=float, default=1.0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--port", type=int, default=17621)
    ap.add_argument("--throttle", type=int)
    a = ap.parse_args()
    node_bin = os.path.join(a.build, "tools", "cxesdb-node")
    bench_bin = os.path.join(a.build, "tools", "bench", "cxesdb-bench")
    root = os.path.join(a.build, "bench-scavenge")
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(root)
    data = os.path.join(root, "node")
    node = start_node(
        node_bin, data, a.port,
        ["--scavenge-interval-s", "100000000"]
        + ([] if a.throttle is None
           else ["--scavenge-throttle-percent", str(a.throttle)]))
    try:
        for _ in range(300):
            try:
                call(a.port, "health", {}, timeout=1.0)
                break
            except OSError:
                time.sleep(0.1)
        ok(a.port, "create_store", {"store": "big"})
        store_dir = os.path.join(data, "big")
        target = int(a.gib * 2**30)
        filled = 0
        t0 = time.monotonic()
        while store_bytes(store_dir) < target:
            r = bench(bench_bin, a.port,
                      ["--store", "big", "--stream-prefix", "fill-",
                       "--clients", "16", "--streams", "1000",
                       "--event-bytes", "256", "--batch", "100"], 5)
            filled += r["events"]
        time.sleep(3)  # the apply catches up
        before = store_bytes(store_dir)
        print(f"filled: {filled:,} events, store.db + WAL {before / 2**20:,.0f}"
              f" MiB, in {time.monotonic() - t0:.0f} s", flush=True)

        baseline = [bench(bench_bin, a.port, W1, a.seconds)
                    for _ in range(a.runs)]

        t0 = time.monotonic()
        for i in range(900):
            ok(a.port, "delete_stream",
               {"store": "big", "stream": f"fill-{i}", "hard": True})
        print(f"hard-deleted fill-0 to fill-899 in "
              f"{time.monotonic() - t0:.1f} s", flush=True)

        outcome = {}

        def scavenge():
            start = time.monotonic()
            outcome["result"] = call(a.port, "scavenge_store",
                                     {"store": "big"}, timeout=3600)
            outcome["seconds"] = time.monotonic() - start

        th = threading.Thread(target=scavenge)
        th.start()
        during = []
        partial = 0
        while th.is_alive():
            r = bench(bench_bin, a.port, W1, a.seconds)
            if th.is_alive():
                during.append(r)
            else:
                partial += 1
        th.join()
        time.sleep(3)
        after = store_bytes(store_dir)
        res = outcome["result"].get("result", outcome["result"])
        print(f"scavenge_store: {outcome['seconds']:.1f} s, {res}", flush=True)
        print(f"store.db + WAL: {before / 2**20:,.0f} MiB before, "
              f"{after / 2**20:,.0f} MiB after")
        print()
        print("| W1 x64 on `big` | events/s | p99 ms | p99.9 ms | max ms "
              "| errors | runs |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        print(f"| no scavenge | {summary(baseline)} |")
        if during:
            print(f"| during the scavenge | {summary(during)} |")
        else:
            print("| during the scavenge | (the scavenge ended within the "
                  "first run) | | | | | 0 |")
        if partial:
            print(f"\n({partial} run overlapping the scavenge's end left out)")
    finally:
        node.kill()
        node.wait()
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
