"""HTTP (protocol.md section 11): /metrics parsed with the Prometheus
client's own text parser (Debian's python3-prometheus-client), /health and
/ready, --http-port 0 and off. Real nodes."""

import http.client
import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest

import cxesdb
from harness import NODE, Node, wait_until
from prometheus_client.parser import text_string_to_metric_families

_HTTP = re.compile(r"listening for http on (\S+):(\d+)")


def http_port(node_log):
    m = _HTTP.search(node_log)
    return int(m.group(2)) if m else None


def get(port, path):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.getheader("Content-Type"), resp.read().decode()
    finally:
        conn.close()


def scrape(port):
    status, ctype, body = get(port, "/metrics")
    assert status == 200, (status, body)
    assert ctype.startswith("text/plain"), ctype
    samples = {}
    for family in text_string_to_metric_families(body):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


class Http(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.node = Node(name="h1")
        cls.addClassCleanup(cls.node.close)
        cls.port = http_port(cls.node.log_tail(100000))

    def test_port_zero_picks_a_free_port_and_the_log_says_which(self):
        self.assertIsNotNone(self.port)
        self.assertNotEqual(self.port, 7414)

    def test_health_and_ready_answer_200_while_serving(self):
        status, ctype, body = get(self.port, "/health")
        self.assertEqual(status, 200)
        self.assertEqual(ctype, "application/json")
        self.assertEqual(json.loads(body), {"status": "ok", "node": "h1"})
        status, _, body = get(self.port, "/ready")
        self.assertEqual(status, 200)
        self.assertTrue(json.loads(body)["ready"])

    def test_unknown_path_is_404(self):
        self.assertEqual(get(self.port, "/nope")[0], 404)

    def test_process_figures_and_connections(self):
        samples = scrape(self.port)
        self.assertGreater(samples[("process_resident_memory_bytes", ())],
                           1 << 20)
        self.assertGreater(samples[("process_open_fds", ())], 3)
        self.assertGreaterEqual(samples[("process_cpu_seconds_total", ())], 0)
        clients = [cxesdb.Client("127.0.0.1", self.node.port, timeout=30.0)
                   for _ in range(3)]
        try:
            for c in clients:
                c.health()  # connected and answered
            wait_until(lambda: scrape(self.port)[("cxesdb_connections", ())]
                       == 3, 30, what="cxesdb_connections == 3")
        finally:
            for c in clients:
                c.close()
        wait_until(lambda: scrape(self.port)[("cxesdb_connections", ())]
                   == 0, 30, what="cxesdb_connections == 0")


    def test_requests_durations_and_errors_after_known_work(self):
        lines = [json.dumps({"jsonrpc": "2.0", "id": i,
                             "method": "append_events",
                             "params": {"stream": "metrics-s",
                                        "events": [{"event_type": "T",
                                                    "data": {"i": i}}]}})
                 for i in range(3)]
        lines.append(json.dumps({"jsonrpc": "2.0", "id": 10,
                                 "method": "get_events",
                                 "params": {"store": "nosuchstore",
                                            "stream": "s"}}))
        lines.append(json.dumps({"jsonrpc": "2.0", "id": 11,
                                 "method": "no_such_method"}))
        lines.append("this is not json")
        before = scrape(self.port)
        answers = raw_calls(self.node.port, lines)
        self.assertEqual([("result" in a) for a in answers],
                         [True, True, True, False, False, False])
        self.assertEqual([a["error"]["data"]["reason"] for a in answers[3:]],
                         ["not_found", "method_not_found", "parse_error"])
        after = scrape(self.port)

        def delta(name, **labels):
            key = (name, tuple(sorted(labels.items())))
            return after[key] - before.get(key, 0)

        self.assertEqual(delta("cxesdb_requests_total",
                               method="append_events"), 3)
        self.assertEqual(delta("cxesdb_requests_total", method="get_events"),
                         1)
        self.assertEqual(delta("cxesdb_request_duration_seconds_count",
                               method="append_events"), 3)
        self.assertGreater(delta("cxesdb_request_duration_seconds_sum",
                                 method="append_events"), 0)
        self.assertEqual(delta("cxesdb_errors_total", reason="not_found"), 1)
        self.assertEqual(delta("cxesdb_errors_total",
                               reason="method_not_found"), 1)
        self.assertEqual(delta("cxesdb_errors_total", reason="parse_error"),
                         1)
        self.assertEqual(delta("cxesdb_errors_total",
                               reason="wrong_expected_version"), 0)
        # The default store's replica (leader on a one-node cluster).
        self.assertEqual(delta("cxesdb_appended_events_total",
                               store="default"), 3)
        self.assertEqual(delta("cxesdb_append_requests_total",
                               store="default"), 3)
        store = (("store", "default"),)
        self.assertEqual(after[("cxesdb_raft_is_leader", store)], 1)
        self.assertGreaterEqual(after[("cxesdb_raft_term", store)], 1)
        self.assertGreaterEqual(delta("cxesdb_raft_commit_index",
                                      store="default"), 3)
        self.assertGreaterEqual(after[("cxesdb_raft_commit_index", store)],
                                after[("cxesdb_raft_applied_index", store)])
        self.assertGreaterEqual(delta("cxesdb_raft_applied_index",
                                      store="default"), 3)
        # The histogram's buckets are cumulative and end at the count.
        buckets = sorted(
            (float(dict(k[1])["le"]), v) for k, v in after.items()
            if k[0] == "cxesdb_request_duration_seconds_bucket"
            and dict(k[1])["method"] == "append_events")
        self.assertEqual(buckets[-1][0], float("inf"))
        counts = [v for _, v in buckets]
        self.assertEqual(counts, sorted(counts))
        self.assertEqual(counts[-1], after[(
            "cxesdb_request_duration_seconds_count",
            (("method", "append_events"),))])
        # Every method is listed before it is first called.
        self.assertIn(("cxesdb_requests_total",
                       (("method", "scavenge_store"),)), after)


    def test_store_figures_after_known_work(self):
        with cxesdb.Client("127.0.0.1", self.node.port, timeout=30.0) as c:
            c.create_store("figures")
            for stream, n in (("f-1", 3), ("f-2", 2), ("f-3", 1)):
                c.append_events(stream, [{"event_type": "T", "data": {"i": i}}
                                         for i in range(n)], store="figures")

            def value(name):
                return scrape(self.port).get((name, (("store", "figures"),)))

            wait_until(lambda: value("cxesdb_store_events") == 6, 30,
                       what="cxesdb_store_events == 6")
            self.assertEqual(value("cxesdb_store_streams"), 3)
            self.assertGreater(value("cxesdb_store_bytes"), 4096)
            self.assertEqual(value("cxesdb_appended_events_total"), 6)
            self.assertEqual(value("cxesdb_append_requests_total"), 3)
            # get_store_status reports the same figures.
            status = c.get_store_status("figures")
            self.assertEqual((status["events"], status["streams"],
                              status["last_position"]), (6, 3, 5))
            self.assertEqual(status["leader"], "h1")
            self.assertEqual(status["members"], ["h1"])
            c.call("delete_stream", store="figures", stream="f-3")
            wait_until(lambda: value("cxesdb_store_streams") == 2, 30,
                       what="cxesdb_store_streams == 2 after a delete")

    def test_a_stuck_subscribers_lag(self):
        import socket
        with cxesdb.Client("127.0.0.1", self.node.port, timeout=30.0) as c:
            c.create_store("lagging")
            c.append_events("l-1", [{"event_type": "T", "data": {"i": i}}
                                    for i in range(10)], store="lagging")
            # A persistent subscriber that takes two events and never acks.
            stuck = socket.create_connection(("127.0.0.1", self.node.port),
                                             timeout=30)
            self.addCleanup(stuck.close)
            stuck.sendall((json.dumps(
                {"jsonrpc": "2.0", "id": 1, "method": "save_subscription",
                 "params": {"store": "lagging", "type": "by_stream",
                            "selector": "$all", "name": "stuck",
                            "start_from": "origin", "max_in_flight": 2}})
                + "\n").encode())
            key = ("cxesdb_subscription_lag_events",
                   (("store", "lagging"), ("subscription", "stuck")))
            wait_until(lambda: scrape(self.port).get(key) == 10, 30,
                       what="a lag of 10 (positions 0-9, nothing acked)")
            c.append_events("l-2", [{"event_type": "T", "data": {"i": i}}
                                    for i in range(20)], store="lagging")
            wait_until(lambda: scrape(self.port).get(key) == 30, 30,
                       what="a lag of 30 after 20 more events")
            # It acknowledges the two it got: the lag shrinks by two.
            stuck.sendall((json.dumps(
                {"jsonrpc": "2.0", "id": 2, "method": "ack_event",
                 "params": {"store": "lagging", "subscription": "stuck",
                            "position": 1}}) + "\n").encode())
            wait_until(lambda: scrape(self.port).get(key) == 28, 30,
                       what="a lag of 28 after acknowledging 0 and 1")
            stuck.close()
            wait_until(lambda: key not in scrape(self.port), 30,
                       what="the lag gone with the last subscriber")


def raw_calls(port, lines):
    """Sends NDJSON lines on one connection; returns the answers in order."""
    import socket
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(("\n".join(lines) + "\n").encode())
        buf = b""
        answers = []
        while len(answers) < len(lines):
            chunk = s.recv(65536)
            assert chunk, "the node closed the connection"
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                answers.append(json.loads(line))
    return sorted(answers, key=lambda a: (a["id"] is None, a["id"] or 0))


class HttpStores(unittest.TestCase):
    def test_a_created_store_is_listed_and_a_removed_one_goes(self):
        node = Node(name="h2")
        self.addCleanup(node.close)
        port = http_port(node.log_tail(100000))
        key = ("cxesdb_raft_is_leader", (("store", "metered"),))
        self.assertNotIn(key, scrape(port))
        raw_calls(node.port, [json.dumps(
            {"jsonrpc": "2.0", "id": 1, "method": "create_store",
             "params": {"store": "metered"}})])
        wait_until(lambda: scrape(port).get(key) == 1, 30,
                   what="the new store's leader in /metrics")
        raw_calls(node.port, [json.dumps(
            {"jsonrpc": "2.0", "id": 2, "method": "remove_store",
             "params": {"store": "metered"}})])
        wait_until(lambda: key not in scrape(port), 30,
                   what="the removed store gone from /metrics")


class HttpLifecycle(unittest.TestCase):
    def test_off_disables_http(self):
        node = Node(extra_args=["--http-port", "off"])
        self.addCleanup(node.close)
        log = node.log_tail(100000)
        self.assertIsNone(http_port(log))
        self.assertIn("http off", log)

    def test_health_is_503_while_the_node_is_starting(self):
        # A node that joins through a seed nobody answers on never finishes
        # starting: its HTTP port is up, /health and /ready say 503.
        tmp = tempfile.mkdtemp(prefix="cxesdb-http-")
        self.addCleanup(shutil.rmtree, tmp, True)
        with socket_closed_port() as dead:
            proc = subprocess.Popen(
                [NODE, "--data-dir", os.path.join(tmp, "data"),
                 "--node-name", "late", "--client-port", "0", "--api-port",
                 "0", "--cluster-port", "0", "--http-port", "0", "--seeds",
                 "127.0.0.1:%d" % dead],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE)
            self.addCleanup(lambda: proc.poll() is None and proc.kill())
            line = b""
            while not _HTTP.search(line.decode()):
                line = proc.stderr.readline()
                self.assertTrue(line, "the node exited before listening")
            port = http_port(line.decode())
            status, _, body = get(port, "/health")
            self.assertEqual(status, 503)
            self.assertEqual(json.loads(body),
                             {"status": "starting", "node": "late"})
            status, _, body = get(port, "/ready")
            self.assertEqual(status, 503)
            self.assertFalse(json.loads(body)["ready"])
            # A node still starting waits for its replicas before it looks
            # at signals (SIGTERM is handled once it serves): SIGKILL.
            proc.kill()
            proc.wait(30)

    def test_busy_port_stops_the_node_with_a_reason(self):
        import socket
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            s.listen()
            busy = s.getsockname()[1]
            tmp = tempfile.mkdtemp(prefix="cxesdb-http-")
            self.addCleanup(shutil.rmtree, tmp, True)
            out = subprocess.run(
                [NODE, "--data-dir", os.path.join(tmp, "data"),
                 "--client-port", "0", "--api-port", "0", "--cluster-port",
                 "0", "--http-port", str(busy)],
                capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 1)
        self.assertIn("cannot listen for http on 127.0.0.1:%d" % busy,
                      out.stderr)


class socket_closed_port:
    """A port on 127.0.0.1 that nothing listens on (bound, then closed)."""

    def __enter__(self):
        import socket
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    def __exit__(self, *exc):
        return False


if __name__ == "__main__":
    unittest.main()
