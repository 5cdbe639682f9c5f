"""Every method of docs/protocol.md through the sync client, against one
real node."""

import base64
import unittest
import uuid

import cxesdb
from harness import NodeCase, fresh

class Methods(NodeCase):
    def test_health_and_cluster_status(self):
        self.assertEqual(self.c.health(), {"status": "ok", "node": "node1"})
        st = self.c.cluster_status()
        self.assertEqual(st["node"], "node1")
        self.assertTrue(any(n["self"] for n in st["nodes"]))
        self.assertEqual(st["stores"][self.store]["leader"], "node1")

    def test_stores(self):
        name = fresh("x")
        r = self.c.create_store(name, config={"description": "d",
                                              "tags": ["a"]})
        self.assertEqual((r["store"], r["status"]), (name, "running"))
        self.assertEqual(r["config"]["description"], "d")
        self.assertIn(name, self.c.list_stores())
        self.assertEqual(self.c.get_store_status(name)["status"], "running")
        self.assertEqual(self.c.get_store_config(name)["tags"], ["a"])
        self.assertEqual(self.c.get_store_status()["status"], "running")
        self.assertEqual(self.c.remove_store(name), {"removed": True})
        self.assertNotIn(name, self.c.list_stores())

    def test_append_sets_ids_and_reads_back(self):
        events = [{"event_type": "OrderPlaced", "data": {"total": 5},
                   "metadata": {"c": 1}},
                  {"event_type": "OrderPaid", "data": None}]
        r = self.c.append("order-1", events, expected_version="no_stream",
                          store=self.store)
        self.assertEqual(r, {"version": 1, "position": 1})
        self.assertNotIn("event_id", events[0])  # input untouched
        got = self.c.get_events("order-1", store=self.store)
        self.assertEqual([e["event_number"] for e in got], [0, 1])
        self.assertEqual(got[0]["data"], {"total": 5})
        self.assertEqual(got[0]["metadata"], {"c": 1})
        self.assertIsNone(got[1]["data"])
        for e in got:
            uuid.UUID(e["event_id"])
        back = self.c.get_events("order-1", direction="backward", count=1,
                                 store=self.store)
        self.assertEqual(back[0]["event_number"], 1)
        self.assertEqual(self.c.get_events("order-1", start=1,
                                           store=self.store)[0]["position"], 1)
        self.assertEqual(self.c.get_version("order-1", store=self.store), 1)
        self.assertEqual(self.c.get_version("nothing", store=self.store), -1)
        self.assertEqual(self.c.get_events("nothing", store=self.store), [])

    def test_append_with_ids_is_idempotent(self):
        events = [{"event_id": str(uuid.uuid4()), "event_type": "A",
                   "data": i} for i in range(3)]
        r1 = self.c.append_events("s", events, store=self.store)
        r2 = self.c.append_events("s", events, expected_version=7,
                                  store=self.store)
        self.assertEqual(r1, r2)
        self.assertEqual(self.c.get_version("s", store=self.store), 2)

    def test_expected_versions(self):
        st = self.store
        self.c.append("s", [{"event_type": "A", "data": 0}],
                      expected_version="no_stream", store=st)
        self.c.append("s", [{"event_type": "A", "data": 1}],
                      expected_version="stream_exists", store=st)
        self.c.append("s", [{"event_type": "A", "data": 2}],
                      expected_version=1, store=st)
        r = self.c.append("s", [], store=st)
        self.assertEqual(r, {"version": 2, "position": None})

    def test_binary_events(self):
        self.c.append("bin", [{"event_type": "Blob", "data": b"\x00\x01\xfe"}],
                      store=self.store)
        ev = self.c.get_events("bin", store=self.store)[0]
        self.assertEqual(ev["content_type"], "application/octet-stream")
        self.assertEqual(cxesdb.event_bytes(ev), b"\x00\x01\xfe")
        self.assertEqual(base64.b64decode(ev["data"]), b"\x00\x01\xfe")

    def test_streams_and_paging(self):
        st = self.store
        for i in range(5):
            self.c.append("st-%d" % i, [{"event_type": "A", "data": i}] * 1,
                          store=st)
        page = self.c.get_streams(limit=2, store=st)
        self.assertEqual(page, {"streams": ["st-0", "st-1"],
                                "next_after": "st-1"})
        self.assertEqual(list(self.c.iter_streams(batch=2, store=st)),
                         ["st-%d" % i for i in range(5)])
        self.c.append("long", [{"event_type": "A", "data": i}
                               for i in range(25)], store=st)
        self.assertEqual([e["data"] for e in
                          self.c.iter_events("long", batch=7, store=st)],
                         list(range(25)))
        self.assertEqual([e["data"] for e in
                          self.c.iter_events("long", batch=7,
                                             direction="backward", store=st)],
                         list(reversed(range(25))))

    def test_read_all(self):
        st = self.store
        for i in range(23):
            self.c.append("r-%d" % (i % 4), [{"event_type": "A", "data": i}],
                          store=st)
        lazy = self.c.read_all(store=st, batch=5)
        self.assertEqual(next(lazy)["position"], 0)  # lazy: one page read
        positions = [0] + [e["position"] for e in lazy]
        self.assertEqual(positions, list(range(23)))
        page = self.c.read_all_page(from_position=20, count=10, store=st)
        self.assertEqual(([e["position"] for e in page["events"]],
                          page["next_position"]), ([20, 21, 22], 23))
        self.assertEqual([e["position"] for e in
                          self.c.read_all(store=st, batch=10,
                                          direction="backward")],
                         list(reversed(range(23))))
        self.assertEqual([e["position"] for e in
                          self.c.read_all(store=st, from_position=21)],
                         [21, 22])

    def test_snapshots(self):
        st = self.store
        self.assertEqual(self.c.record_snapshot("agg-1", "order-1", 1,
                                                {"paid": False},
                                                source_type="Order",
                                                store=st),
                         {"recorded": True})
        self.c.record_snapshot("agg-1", "order-1", 3, {"paid": True},
                               metadata={"m": 1}, store=st)
        latest = self.c.read_snapshot("agg-1", "order-1", store=st)
        self.assertEqual((latest["version"], latest["data"],
                          latest["metadata"]), (3, {"paid": True}, {"m": 1}))
        self.assertEqual(self.c.read_snapshot("agg-1", "order-1", version=1,
                                              store=st)["source_type"],
                         "Order")
        self.assertEqual([s["version"] for s in
                          self.c.list_snapshots(source_uuid="agg-1",
                                                store=st)], [1, 3])
        self.assertEqual(self.c.delete_snapshot("agg-1", "order-1", 1,
                                                store=st), {"deleted": True})
        self.assertEqual(len(self.c.list_snapshots(store=st)), 1)
        self.c.record_snapshot("agg-2", "s", 0, None, store=st)
        self.assertIsNone(self.c.read_snapshot("agg-2", "s",
                                               store=st)["data"])

    def test_subscription_methods(self):
        st = self.store
        self.c.append("p", [{"event_type": "Paid", "data": i}
                            for i in range(3)], store=st)
        with self.c.save_subscription("by_event_type", "Paid", name="billing",
                                      start_from="origin", store=st) as sub:
            self.assertEqual((sub.id, sub.checkpoint), ("billing", -1))
            evs = [sub.next_event(10) for _ in range(3)]
            self.assertEqual([e["data"] for e in evs], [0, 1, 2])
            self.assertEqual(sub.ack(evs[0]), 0)
            self.assertEqual(self.c.ack_event(sub, evs[2]), 2)
            subs = {s["name"]: s for s in self.c.get_subscriptions(store=st)}
            self.assertEqual(subs["billing"]["checkpoint"], 2)
            self.assertEqual(subs["billing"]["subscribers"], 1)
            self.assertTrue(subs["billing"]["persistent"])
            self.assertEqual(self.c.unsubscribe(sub), {"unsubscribed": True})
            self.assertTrue(sub.closed)
            self.assertIsNone(sub.next_event(0.1))
        self.assertEqual(self.c.remove_subscription("by_event_type", "Paid",
                                                    "billing", store=st),
                         {"removed": True})
        self.assertEqual(self.c.get_subscriptions(store=st), [])

    def test_subscription_kinds(self):
        st = self.store
        self.c.append("k-1", [{"event_type": "A", "data": {"n": 1, "x": "y"}},
                              {"event_type": "B", "data": {"n": 2}}],
                      store=st)
        self.c.append("k-2", [{"event_type": "A", "data": {"n": 3}}],
                      store=st)

        def first(type_, selector, k):
            with self.c.subscribe(type_, selector, start_from="origin",
                                  store=st) as sub:
                self.assertTrue(sub.id.startswith("transient-"))
                return [sub.next_event(10)["data"]["n"] for _ in range(k)]

        self.assertEqual(first("by_stream", "k-2", 1), [3])
        self.assertEqual(first("by_stream", "$all", 3), [1, 2, 3])
        self.assertEqual(first("by_event_type", "A", 2), [1, 3])
        self.assertEqual(first("by_event_pattern", {"stream_id": "k-1",
                                                    "event_type": "B"}, 1),
                         [2])
        self.assertEqual(first("by_event_payload", {"x": "y"}, 1), [1])

    def test_raw_call(self):
        self.assertEqual(self.c.call("get_version", stream="nope",
                                     store=self.store), {"version": -1})
        self.assertEqual(self.c.call("health", store=None)["status"], "ok")

    def test_authenticate_without_an_auth_file(self):
        # Authentication is off: any token is taken, everyone is admin
        # (test_security.py runs a node with --auth-file).
        open_result = {"authenticated": True, "user": None, "role": "admin",
                       "stores": {}}
        self.assertEqual(self.c.authenticate("0123456789abcdef"), open_result)
        with cxesdb.Client("127.0.0.1", self.node.port,
                           token="0123456789abcdef") as c:
            self.assertEqual(c.health()["status"], "ok")

    def test_leave_cluster(self):
        with self.assertRaises(cxesdb.NotFound) as cm:
            self.c.leave_cluster("node9")
        self.assertEqual(cm.exception.what, "node")
        with self.assertRaises(cxesdb.Forbidden):
            self.c.leave_cluster("node1")

    def test_stream_lifecycle(self):
        s = fresh("life")
        self.c.append_events(s, [{"event_type": "T", "data": {"i": i}}
                                 for i in range(5)], store=self.store)
        self.assertEqual(self.c.truncate_stream(s, 2, store=self.store),
                         {"truncated": True, "first": 2})
        self.assertEqual([e["event_number"] for e in
                          self.c.get_events(s, store=self.store)], [2, 3, 4])
        meta = self.c.set_stream_metadata(s, max_count=2, custom={"o": 1},
                                          store=self.store)
        self.assertEqual(meta, {"max_count": 2, "custom": {"o": 1}})
        self.assertEqual(self.c.get_stream_metadata(s, store=self.store),
                         meta)
        self.assertEqual(len(self.c.get_events(s, store=self.store)), 2)
        r = self.c.delete_stream(s, store=self.store)
        self.assertEqual(r, {"deleted": True, "version": 4})
        self.assertEqual(self.c.get_version(s, store=self.store), -1)
        # Repeated, as after a lost answer: the same answer.
        self.assertEqual(self.c.delete_stream(s, store=self.store), r)
        self.c.delete_stream(s, hard=True, store=self.store)
        with self.assertRaises(cxesdb.StreamDeleted):
            self.c.get_events(s, store=self.store)
        done = self.c.scavenge_store(store=self.store)
        self.assertGreaterEqual(done["removed_events"], 4)

    def test_backup_and_restore(self):
        src = fresh("bk")
        self.c.create_store(src)
        self.c.append_events("b-1", [{"event_type": "T", "data": {}}],
                             store=src)
        name = fresh("nightly")
        b = self.c.backup_store(name, store=src)
        self.assertEqual((b["backup"], b["last_position"]), (name, 0))
        with self.assertRaises(cxesdb.AlreadyExists):
            self.c.backup_store(name, store=src)
        listed = {x["name"]: x for x in self.c.list_backups()}
        self.assertEqual(listed[name]["store"], src)
        copy = fresh("copy")
        self.assertEqual(self.c.restore_store(copy, name)["status"],
                         "running")
        self.assertEqual(self.c.get_version("b-1", store=copy), 0)
        with self.assertRaises(cxesdb.NotFound) as cm:
            self.c.restore_store(fresh("none"), fresh("nosuch"))
        self.assertEqual(cm.exception.what, "backup")
        self.c.remove_store(copy)
        self.c.remove_store(src)

    def test_every_protocol_method_has_a_named_function(self):
        methods = ["create_store", "remove_store", "list_stores",
                   "get_store_status", "get_store_config", "append_events",
                   "get_events", "get_version", "get_streams", "read_all",
                   "save_subscription", "unsubscribe", "remove_subscription",
                   "get_subscriptions", "ack_event", "record_snapshot",
                   "read_snapshot", "delete_snapshot", "list_snapshots",
                   "health", "cluster_status", "authenticate",
                   "leave_cluster", "delete_stream", "truncate_stream",
                   "set_stream_metadata", "get_stream_metadata",
                   "scavenge_store", "backup_store", "list_backups",
                   "restore_store"]
        import cxesdb.aio
        for m in methods:
            for cls in (cxesdb.Client, cxesdb.aio.Client):
                fn = getattr(cls, m)
                self.assertTrue(fn.__doc__, (cls, m))


if __name__ == "__main__":
    unittest.main()
