"""Three real nodes: a subscriber survives the SIGKILL of its node by
reconnecting to another, and a node without a replica answers
``unavailable``."""

import threading
import unittest

import cxesdb
from harness import Cluster, fresh, wait_until


class ThreeNodes(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cluster = Cluster(3)
        cls.addClassCleanup(cls.cluster.close)

        def all_up():
            for n in cls.cluster.nodes:
                with cxesdb.Client("127.0.0.1", n.port) as c:
                    st = c.cluster_status()
                if sorted(m["name"] for m in st["nodes"]
                          if m["status"] == "up") != ["node1", "node2",
                                                      "node3"]:
                    return False
            return True
        wait_until(all_up, 30, poll=0.1, what="three nodes up")

    def client(self, first, **kw):
        """A client that connects to ``first`` and knows every node."""
        others = [n.address for n in self.cluster.nodes if n is not first]
        c = cxesdb.Client("127.0.0.1", first.port, addresses=others, **kw)
        self.addCleanup(c.close)
        return c

    def store_status(self, c, store):
        return c.cluster_status()["stores"].get(store) or {}

    def test_1_node_without_a_replica_is_unavailable(self):
        n1 = self.cluster.nodes[0]
        c = self.client(n1)
        store = fresh("one")
        c.create_store(store, config={"replication_factor": 1})
        members = wait_until(
            lambda: self.store_status(c, store).get("members"), 10,
            what="the store's placement")
        outside = next(n for n in self.cluster.nodes
                       if n.name not in members)
        with cxesdb.Client("127.0.0.1", outside.port) as d:
            with self.assertRaises(cxesdb.Unavailable) as cm:
                d.call("save_subscription", type="by_stream", selector="$all",
                       store=store)
            self.assertFalse(cm.exception.local)
            # Reads and appends are routed to the replica's node.
            d.append("s", [{"event_type": "A", "data": 1}], store=store)
            self.assertEqual(d.get_version("s", store=store), 0)

    def test_2_subscriber_survives_sigkill_of_its_node(self):
        nodes = self.cluster.nodes
        admin = self.client(nodes[0])
        store = fresh("kill")
        admin.create_store(store, config={"replication_factor": 3})
        status = wait_until(
            lambda: (lambda s: s if s.get("leader") and
                     len(s.get("members", [])) == 3 else None)(
                self.store_status(admin, store)),
            20, poll=0.05, what="a leader of three replicas")
        # The subscribers' node is the store's leader, so that the kill also
        # makes the store elect a new one.
        victim = self.cluster.node(status["leader"])
        writer_node = next(n for n in nodes if n is not victim)
        writer = self.client(writer_node, timeout=30.0)
        subs_client = self.client(victim, resubscribe_timeout=30.0)

        total = 240
        transient = subs_client.subscribe("by_stream", "$all",
                                          start_from="origin", store=store)
        self.addCleanup(transient.close)
        durable = subs_client.subscribe("by_stream", "$all", name="audit",
                                        start_from="origin", store=store)
        self.addCleanup(durable.close)

        acked = []
        errors = []

        def write():
            try:
                for k in range(total):
                    acked.append(writer.append(
                        "c-%d" % (k % 8), [{"event_type": "E", "data": k}],
                        store=store))
            except BaseException as e:
                errors.append(e)

        durable_seen = set()
        durable_errors = []

        def consume_durable():
            try:
                while len(durable_seen) < total:
                    ev = durable.next_event(30)
                    if ev is None:
                        raise AssertionError("durable: nothing for 30 s after"
                                             " %d" % len(durable_seen))
                    durable_seen.add(ev["position"])
                    durable.ack(ev, wait=False)
            except BaseException as e:
                durable_errors.append(e)

        w = threading.Thread(target=write)
        d = threading.Thread(target=consume_durable)
        w.start()
        d.start()
        got = []
        killed_at = 0
        try:
            while len(got) < total:
                if len(got) == total // 3 and victim.running():
                    victim.kill()
                    killed_at = len(got)
                ev = transient.next_event(30)
                self.assertIsNotNone(ev, "nothing for 30 s after %d events"
                                     % len(got))
                got.append(ev)
        finally:
            w.join(60)
            d.join(60)
        self.assertEqual(errors, [])
        self.assertEqual(durable_errors, [])
        self.assertEqual(len(acked), total)
        self.assertGreater(killed_at, 0)
        # Catch-up then live, across the kill: every position once, in
        # order, and the subscriptions moved to another node.
        self.assertEqual([e["position"] for e in got], list(range(total)))
        self.assertGreaterEqual(transient.reconnects, 1)
        self.assertGreaterEqual(durable.reconnects, 1)
        self.assertEqual(durable_seen, set(range(total)))
        self.assertNotEqual(transient._conn.name, victim.address)
        # Every acknowledged append is what the subscriber saw there.
        by_position = {e["position"]: e for e in got}
        for r in acked:
            self.assertIn(r["position"], by_position)


if __name__ == "__main__":
    unittest.main()
