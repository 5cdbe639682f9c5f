"""Many threads on one client, and subscriptions under concurrent appends,
against one real node."""

import threading
import unittest

import cxesdb
from harness import NodeCase, run_threads

THREADS = 8


class Pipelining(NodeCase):
    def test_eight_threads_share_one_connection(self):
        c = cxesdb.Client("127.0.0.1", self.node.port)
        self.addCleanup(c.close)
        per_thread = 60
        results = {}

        def work(i):
            stream = "t-%d" % i
            got = []
            for k in range(per_thread):
                # Exact expected versions: every answer must be this
                # thread's own, in order.
                r = c.append(stream, [{"event_type": "T", "data": [i, k]}],
                             expected_version=k - 1, store=self.store)
                got.append(r["version"])
                self.assertEqual(c.get_version(stream, store=self.store), k)
            results[i] = got

        run_threads(THREADS, work)
        for i in range(THREADS):
            self.assertEqual(results[i], list(range(per_thread)))
            evs = c.get_events("t-%d" % i, count=1000, store=self.store)
            self.assertEqual([e["data"] for e in evs],
                             [[i, k] for k in range(per_thread)])
        self.assertGreater(c._conn.peak_in_flight, 1,
                           "the threads' requests were never in flight at"
                           " the same time")
        positions = [e["position"] for e in c.read_all(store=self.store)]
        self.assertEqual(positions, list(range(THREADS * per_thread)))


class CatchUpThenLive(NodeCase):
    def test_no_gap_no_duplicate_under_concurrent_appends(self):
        before, writers, per_writer = 300, 4, 75
        total = before + writers * per_writer
        self.c.append("pre", [{"event_type": "E", "data": i}
                              for i in range(before)], store=self.store)
        started = threading.Event()

        def write(i):
            started.wait(10)
            for k in range(per_writer):
                self.c.append("w-%d" % i, [{"event_type": "E", "data": k}],
                              store=self.store)

        got = []
        with self.c.subscribe("by_stream", "$all", start_from="origin",
                              store=self.store) as sub:
            t = threading.Thread(target=run_threads, args=(writers, write))
            t.start()
            try:
                while len(got) < total:
                    if len(got) == 10:
                        started.set()  # appends start during the catch-up
                    ev = sub.next_event(timeout=20)
                    self.assertIsNotNone(ev, "no event within 20 s after %d"
                                         % len(got))
                    got.append(ev)
                self.assertIsNone(sub.next_event(timeout=0.2))
            finally:
                started.set()
                t.join(60)
        self.assertEqual([e["position"] for e in got], list(range(total)))
        for i in range(writers):
            self.assertEqual([e["event_number"] for e in got
                              if e["stream_id"] == "w-%d" % i],
                             list(range(per_writer)))


if __name__ == "__main__":
    unittest.main()
