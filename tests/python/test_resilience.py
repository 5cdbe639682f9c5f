"""Persistent subscriptions across client restarts, and clients and
subscriptions across node restarts (SIGTERM and SIGKILL), against one real
node."""

import threading
import unittest

import cxesdb
from harness import Node, fresh, wait_until


class NodePerTest(unittest.TestCase):
    def setUp(self):
        self.node = Node()
        self.addCleanup(self.node.close)
        self.store = fresh()
        with cxesdb.Client("127.0.0.1", self.node.port) as c:
            c.create_store(self.store)

    def client(self, **kw):
        c = cxesdb.Client("127.0.0.1", self.node.port, **kw)
        self.addCleanup(c.close)
        return c


class PersistentResume(NodePerTest):
    def test_resumes_after_the_last_ack_in_a_new_client(self):
        st = self.store
        a = self.client()
        a.append("o", [{"event_type": "Placed", "data": i} for i in range(10)],
                 store=st)
        with a.subscribe("by_event_type", "Placed", name="billing",
                         start_from="origin", store=st) as sub:
            for i in range(6):
                ev = sub.next_event(10)
                self.assertEqual(ev["data"], i)
                if i < 4:
                    self.assertEqual(sub.ack(ev), i)
            # events 4 and 5 were handed out but not acknowledged
        a.close()  # the client goes away: a restart of the application

        b = self.client()
        b.append("o", [{"event_type": "Placed", "data": i}
                       for i in range(10, 12)], store=st)
        with b.subscribe("by_event_type", "Placed", name="billing",
                         start_from="origin", store=st) as sub:
            self.assertEqual(sub.checkpoint, 3)
            got = [sub.next_event(10)["data"] for _ in range(8)]
            self.assertEqual(got, list(range(4, 12)))  # at least once
            sub.ack(11)
        self.assertEqual({s["name"]: s["checkpoint"]
                          for s in b.get_subscriptions(store=st)},
                         {"billing": 11})

    def test_removed_subscription_raises(self):
        c = self.client()
        with c.subscribe("by_stream", "x", name="gone", store=self.store) \
                as sub:
            c.remove_subscription("by_stream", "x", "gone", store=self.store)
            with self.assertRaises(cxesdb.SubscriptionDropped) as cm:
                sub.next_event(10)
            self.assertEqual(cm.exception.drop_reason, "removed")


class NodeRestart(NodePerTest):
    def test_client_and_subscriptions_survive_a_restart(self):
        st = self.store
        c = self.client(timeout=30.0)
        c.append("a", [{"event_type": "E", "data": i} for i in range(5)],
                 store=st)
        live = c.subscribe("by_stream", "$all", start_from="origin", store=st)
        self.addCleanup(live.close)
        durable = c.subscribe("by_stream", "$all", name="keeper",
                              start_from="origin", store=st)
        self.addCleanup(durable.close)
        seen = [live.next_event(10)["position"] for _ in range(5)]
        for _ in range(5):
            durable.ack(durable.next_event(10))
        first = c._conn

        self.node.restart()  # SIGTERM, then the same port and data
        c.append("a", [{"event_type": "E", "data": i} for i in range(5, 8)],
                 store=st)
        self.assertIsNot(c._conn, first)
        self.assertGreaterEqual(c.reconnects, 1)
        seen += [live.next_event(20)["position"] for _ in range(3)]
        self.assertEqual(seen, list(range(8)))
        self.assertGreaterEqual(live.reconnects, 1)
        self.assertEqual([durable.next_event(20)["position"]
                          for _ in range(3)], [5, 6, 7])
        self.assertIsNone(live.next_event(0.2))

    def test_appends_in_flight_survive_a_sigkill(self):
        st = self.store
        c = self.client(timeout=30.0)
        acked = {}
        stop = threading.Event()
        failures = []

        def writer(i):
            k = 0
            try:
                while not stop.is_set() and k < 400:
                    r = c.append("w-%d" % i, [{"event_type": "E",
                                               "data": k}], store=st)
                    acked[(i, k)] = r
                    k += 1
            except cxesdb.Error as e:
                failures.append(e)

        threads = [threading.Thread(target=writer, args=(i,))
                   for i in range(4)]
        for t in threads:
            t.start()
        try:
            wait_until(lambda: len(acked) >= 40, 20, what="40 appends")
            self.node.kill()
            self.node.start()
            n = len(acked)
            wait_until(lambda: len(acked) >= n + 40, 30,
                       what="appends after the restart")
        finally:
            stop.set()
            for t in threads:
                t.join(40)
        self.assertEqual(failures, [])
        # At least one: a connect may also land in the listen queue of the
        # dying process and be reset, which costs one more.
        self.assertGreaterEqual(c.reconnects, 1)
        # Every acknowledged append is there exactly once; the retried ones
        # were not written twice (their ids made them idempotent).
        for i in range(4):
            evs = list(c.iter_events("w-%d" % i, store=st))
            self.assertEqual([e["event_number"] for e in evs],
                             list(range(len(evs))))
            data = [e["data"] for e in evs]
            self.assertEqual(data, sorted(set(data)))
            for (j, k), r in acked.items():
                if j == i:
                    self.assertEqual(evs[r["version"]]["data"], k)


if __name__ == "__main__":
    unittest.main()
