"""tools/bench/jsonrpc.py: one JSON-RPC request to a node, for the bench
scripts beside it (history.py, scavenge_cost.py). Standard library only."""

import json
import socket


def call(port, method, params, timeout=5.0):
    """One JSON-RPC request on a new connection to 127.0.0.1:``port``; the
    decoded answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        req = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
        s.sendall((json.dumps(req) + "\n").encode())
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = s.recv(1 << 16)
            if not chunk:
                raise ConnectionError("closed before the answer")
            buf += chunk
        return json.loads(buf)
