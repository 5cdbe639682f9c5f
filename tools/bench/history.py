#!/usr/bin/env python3
"""tools/bench/history.py: what a store's history costs a node.

usage: tools/bench/history.py BUILD_DIR [--events N] [--checkpoints A,B,...]
                              [--port P] [--node-arg=--flag=value ...]

Starts BUILD_DIR/tools/cxesdb-node on a fresh data directory under
BUILD_DIR/bench-history and appends W2 batches (100 events of 256 B data and
about 100 B metadata per request, 1,000 streams, 16 clients; cxesdb-bench) to
the default store until it holds N events (default 1,000,000). At each
checkpoint (default 300,000 and N) it prints the node's RSS, the size of the
data directory and its ratio to the events' payload (data, metadata and
event type as stored). Then it SIGKILLs the node, starts it again on the same
data, and prints the time from the start to the first answered read of the
store, and the RSS once it answers. Standard library only; the node is
stopped and its data removed at the end.
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time

from jsonrpc import call, start_node


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def dir_bytes(path):
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.path.getsize(os.path.join(root, name))
            except OSError:
                pass
    return total


def first_read(port, deadline_s):
    """Seconds until a read of the default store answers, polling."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < deadline_s:
        try:
            r = call(port, "read_all", {"from_position": 0, "count": 1},
                     timeout=1.0)
            if "result" in r:
                return time.monotonic() - t0
        except (OSError, ValueError):
            pass
        time.sleep(0.01)
    raise RuntimeError("no answer within %s s" % deadline_s)


def payload_per_event(port):
    r = call(port, "read_all", {"from_position": 0, "count": 1})
    ev = r["result"]["events"][0]
    compact = dict(separators=(",", ":"))
    return (len(json.dumps(ev["data"], **compact))
            + len(json.dumps(ev["metadata"], **compact))
            + len(ev["event_type"]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("build")
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--checkpoints", default="300000")
    ap.add_argument("--port", type=int, default=17611)
    ap.add_argument("--node-arg", action="append", default=[])
    a = ap.parse_args()
    binary = os.path.join(a.build, "tools", "cxesdb-node")
    bench = os.path.join(a.build, "tools", "bench", "cxesdb-bench")
    root = os.path.join(a.build, "bench-history")
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(root)
    data = os.path.join(root, "node")
    checkpoints = sorted({int(x) for x in a.checkpoints.split(",") if x}
                         | {a.events})
    node = start_node(binary, data, a.port, a.node_arg)
    try:
        first_read(a.port, 30)
        events = 0
        per_event = None
        print("| events | RSS MiB | data dir MiB | data dir / payload |")
        print("|---:|---:|---:|---:|")
        for target in checkpoints:
            while events < target:
                out = subprocess.run(
                    [bench, "append", "--port", str(a.port), "--clients", "16",
                     "--streams", "1000", "--event-bytes", "256",
                     "--batch", "100", "--duration", "5", "--warmup", "0",
                     "--json", "--quiet"],
                    check=True, capture_output=True, text=True).stdout
                events += json.loads(out)["events"]
            if per_event is None:
                per_event = payload_per_event(a.port)
            time.sleep(2)  # the apply catches up
            size = dir_bytes(data)
            print(f"| {events:,} | {rss_mib(node.pid):.0f} | "
                  f"{size / 2**20:.0f} | {size / (events * per_event):.2f} |",
                  flush=True)
        node.send_signal(signal.SIGKILL)
        node.wait()
        node = start_node(binary, data, a.port, a.node_arg)
        took = first_read(a.port, 120)
        print(f"\nafter SIGKILL and restart with {events:,} events: first "
              f"read answered {took:.2f} s after the start; RSS "
              f"{rss_mib(node.pid):.0f} MiB; payload {per_event} B/event")
    finally:
        node.kill()
        node.wait()
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
