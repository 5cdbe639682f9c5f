"""Real cxesdb-node processes for the Python client's tests.

The Python twin of tests/integration/node_process.cpp and cluster.cpp: each
node runs in a temporary directory of its own (data dir and log) on
127.0.0.1 with ports it picks itself (``--client-port 0``, ``--cluster-port
0``, ``--api-port 0``), read back from its log's ``listening for clients on
HOST:PORT`` and ``listening for peers on HOST:PORT`` lines and pinned for
restarts. The binary is ``$CXESDB_NODE`` (default
/tmp/cxesdb-bin/cxesdb-node).

A node never outlives the tests: it gets SIGKILL when the test process dies
(PR_SET_PDEATHSIG), ``close`` (registered as a cleanup by the tests, and at
exit for anything left) stops it and removes its directory. With
``CXESDB_KEEP_TMP`` set the directories stay for a post-mortem.
"""

import atexit
import ctypes
import itertools
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest
import uuid

NODE = os.environ.get("CXESDB_NODE", "/tmp/cxesdb-bin/cxesdb-node")

_live = set()


def wait_until(pred, timeout, poll=0.02, what="a condition"):
    """Polls ``pred`` until it returns a true value (returned) or
    ``timeout`` seconds pass (AssertionError)."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1f s waiting for %s"
                                 % (timeout, what))
        time.sleep(poll)


def _die_with_parent():
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)


_LISTEN = re.compile(rb"listening for (clients|peers) on (\S+):(\d+)")


class Node:
    """One cxesdb-node process; see the module's doc."""

    def __init__(self, name=None, seeds=(), extra_args=(), start=True,
                 start_timeout=30.0):
        self.name = name
        self.seeds = list(seeds)
        self.extra_args = list(extra_args)
        self.start_timeout = start_timeout
        self.tmp = tempfile.mkdtemp(prefix="cxesdb-py-")
        self.data_dir = os.path.join(self.tmp, "data")
        self.log_path = os.path.join(self.tmp, "node.log")
        self.port = 0
        self.cluster_port = 0
        self.proc = None
        _live.add(self)
        if start:
            try:
                self.start()
            except BaseException:
                self.close()
                raise

    def __repr__(self):
        return "<Node %s port %d pid %s>" % (
            self.name, self.port, self.proc.pid if self.proc else None)

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    @property
    def cluster_address(self):
        return "127.0.0.1:%d" % self.cluster_port

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self):
        """Starts the process and waits for its listening lines."""
        args = [NODE, "--data-dir", self.data_dir, "--bind", "127.0.0.1",
                "--client-port", str(self.port), "--api-port", "0",
                "--cluster-port", str(self.cluster_port), "--http-port", "0"]
        if self.name:
            args += ["--node-name", self.name]
        if self.seeds:
            args += ["--seeds", ",".join(self.seeds)]
        args += self.extra_args
        with open(self.log_path, "ab") as log:
            log.write(b"=== python harness: starting " +
                      " ".join(args).encode() + b"\n")
            log.flush()
            offset = log.tell()
            self.proc = subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, preexec_fn=_die_with_parent,
                close_fds=True)
        deadline = time.monotonic() + self.start_timeout
        while True:
            with open(self.log_path, "rb") as f:
                f.seek(offset)
                text = f.read()
            found = {}
            for m in _LISTEN.finditer(text):
                found.setdefault(m.group(1).decode(), int(m.group(3)))
            if "clients" in found and "peers" in found:
                self.port = found["clients"]
                self.cluster_port = found["peers"]
                return
            if self.proc.poll() is not None:
                raise RuntimeError("node exited with %s before listening:\n%s"
                                   % (self.proc.returncode, self.log_tail()))
            if time.monotonic() >= deadline:
                self.kill()
                raise RuntimeError("node did not listen within %.0f s:\n%s"
                                   % (self.start_timeout, self.log_tail()))
            time.sleep(0.02)

    def stop(self, timeout=20.0):
        """SIGTERM, then SIGKILL if it has not exited within ``timeout``."""
        if not self.running():
            return
        self.proc.send_signal(signal.SIGCONT)
        self.proc.terminate()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self):
        """SIGKILL, and reap it."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def suspend(self, timeout=10.0):
        """SIGSTOP, and waits until every thread of the node is stopped
        (signals are delivered asynchronously)."""
        self.proc.send_signal(signal.SIGSTOP)

        def stopped():
            task = "/proc/%d/task" % self.proc.pid
            try:
                for tid in os.listdir(task):
                    with open("%s/%s/stat" % (task, tid)) as f:
                        # the state follows the ")" that ends the name
                        if f.read().rsplit(")", 1)[1].split()[0] not in "tT":
                            return False
            except OSError:
                return False
            return True
        wait_until(stopped, timeout, poll=0.005, what="the node to stop")

    def resume(self):
        """SIGCONT."""
        self.proc.send_signal(signal.SIGCONT)

    def restart(self, seeds=None):
        """Stops (SIGTERM) and starts again on the same ports and data."""
        self.stop()
        if seeds is not None:
            self.seeds = list(seeds)
        self.start()

    def log_tail(self, n=4000):
        try:
            with open(self.log_path, "rb") as f:
                data = f.read()
        except OSError:
            return ""
        return data[-n:].decode("utf-8", "replace")

    def close(self):
        """Stops the node and removes its directory."""
        try:
            self.stop(timeout=10.0)
        finally:
            _live.discard(self)
            if not os.environ.get("CXESDB_KEEP_TMP"):
                shutil.rmtree(self.tmp, ignore_errors=True)


class Cluster:
    """Three (or ``n``) nodes named node1..n: node1 founds the cluster, each
    later one is seeded with the ones before it; a restarted node is seeded
    with all the others."""

    def __init__(self, n=3, extra_args=()):
        self.nodes = []
        try:
            for i in range(1, n + 1):
                seeds = [m.cluster_address for m in self.nodes]
                self.nodes.append(Node("node%d" % i, seeds=seeds,
                                       extra_args=extra_args,
                                       start_timeout=60.0))
        except BaseException:
            self.close()
            raise

    def node(self, name):
        return next(n for n in self.nodes if n.name == name)

    def addresses(self):
        return [n.address for n in self.nodes]

    def restart(self, node):
        node.restart(seeds=[m.cluster_address for m in self.nodes
                            if m is not node])

    def close(self):
        for n in reversed(self.nodes):
            n.close()


def raw_exchange(port, lines, timeout=10.0):
    """Sends raw lines (bytes, each ending in a newline) on a new connection
    and returns the parsed answers, one per line that gets one (the lines
    must all be answered)."""
    import json
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(b"".join(lines))
        buf = b""
        out = []
        deadline = time.monotonic() + timeout
        while len(out) < len(lines):
            s.settimeout(max(0.01, deadline - time.monotonic()))
            data = s.recv(65536)
            if not data:
                break
            buf += data
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                if line.strip():
                    out.append(json.loads(line))
        return out


def _on_sigterm(signum, frame):
    raise SystemExit(128 + signum)  # so that atexit cleans up


if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
    signal.signal(signal.SIGTERM, _on_sigterm)


@atexit.register
def _close_all():
    for n in list(_live):
        try:
            n.close()
        except Exception:
            pass


_n = itertools.count(1)


def fresh(prefix="s"):
    """A store id (or any name) no other test uses."""
    return "%s%d_%s" % (prefix, next(_n), uuid.uuid4().hex[:6])


class NodeCase(unittest.TestCase):
    """One node (flags ``node_args``) and one sync client for the whole
    class; a new store, ``self.store``, for every test."""

    node_args = ()

    @classmethod
    def setUpClass(cls):
        import cxesdb
        cls.node = Node(extra_args=cls.node_args)
        cls.addClassCleanup(cls.node.close)
        cls.client = cxesdb.Client("127.0.0.1", cls.node.port)
        cls.addClassCleanup(cls.client.close)

    def setUp(self):
        self.store = fresh()
        self.c = self.client
        self.c.create_store(self.store)


def run_threads(n, target):
    """Runs target(i) in n threads; re-raises the first failure."""
    errors = []

    def wrap(i):
        try:
            target(i)
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=wrap, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
        if t.is_alive():
            raise AssertionError("a thread did not finish within 60 s")
    if errors:
        raise errors[0]
