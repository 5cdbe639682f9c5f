"""tools/bench/jsonrpc.py: a node for the bench scripts beside it
(history.py, scavenge_cost.py): started on a data directory, and one JSON-RPC
request to it. Standard library only."""

import json
import os
import socket
import subprocess


def start_node(binary, data, port, extra):
    """Starts ``binary`` on ``data`` with the client port ``port``, every
    other port free, and the flags ``extra``; its log goes to node.log
    beside ``data``. Returns the process."""
    log = open(os.path.join(os.path.dirname(data), "node.log"), "ab")
    args = [binary, "--data-dir", data, "--client-port", str(port),
            "--api-port", "0", "--cluster-port", "0", "--http-port", "0"] + extra
    return subprocess.Popen(args, stdout=log, stderr=log)


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
