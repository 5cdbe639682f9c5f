"""The asyncio client against one real node: methods, errors, many
concurrent calls on one connection, subscriptions with async for, and a
node restart."""

import asyncio
import unittest

import cxesdb
import cxesdb.aio
from harness import Node, fresh


class Aio(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.node = Node()
        cls.addClassCleanup(cls.node.close)

    def run_async(self, coro, timeout=60):
        asyncio.run(asyncio.wait_for(coro, timeout))

    def test_methods_and_errors(self):
        async def main():
            st = fresh()
            async with cxesdb.aio.Client("127.0.0.1", self.node.port) as c:
                self.assertEqual((await c.health())["status"], "ok")
                await c.create_store(st, config={"description": "aio"})
                self.assertEqual((await c.get_store_config(st))["description"],
                                 "aio")
                r = await c.append("o", [{"event_type": "A", "data": i}
                                         for i in range(5)],
                                   expected_version="no_stream", store=st)
                self.assertEqual(r, {"version": 4, "position": 4})
                self.assertEqual(len(await c.get_events("o", store=st)), 5)
                self.assertEqual(await c.get_version("o", store=st), 4)
                self.assertEqual([e["position"] async for e in
                                  c.read_all(store=st, batch=2)],
                                 list(range(5)))
                self.assertEqual([e["event_number"] async for e in
                                  c.iter_events("o", batch=2, store=st)],
                                 list(range(5)))
                self.assertEqual([s async for s in c.iter_streams(store=st)],
                                 ["o"])
                await c.record_snapshot("a", "o", 4, {"n": 5}, store=st)
                self.assertEqual((await c.read_snapshot("a", "o",
                                                        store=st))["data"],
                                 {"n": 5})
                self.assertEqual((await c.call("get_version", stream="o",
                                               store=st))["version"], 4)
                with self.assertRaises(cxesdb.WrongExpectedVersion) as cm:
                    await c.append("o", [{"event_type": "A", "data": 9}],
                                   expected_version=1, store=st)
                self.assertEqual(cm.exception.current_version, 4)
                with self.assertRaises(cxesdb.NotFound):
                    await c.get_store_status("nosuch")
                with self.assertRaises(cxesdb.MethodNotFound):
                    await c.call("launch_rockets")
                self.assertEqual(await c.remove_store(st), {"removed": True})
        self.run_async(main())

    def test_many_concurrent_calls_share_one_connection(self):
        async def main():
            st = fresh()
            async with cxesdb.aio.Client("127.0.0.1", self.node.port) as c:
                await c.create_store(st)
                results = await asyncio.gather(*(
                    c.append("s-%d" % (i % 10), [{"event_type": "A",
                                                  "data": i}], store=st)
                    for i in range(300)))
                self.assertEqual(sorted(r["position"] for r in results),
                                 list(range(300)))
                versions = await asyncio.gather(*(
                    c.get_version("s-%d" % i, store=st) for i in range(10)))
                self.assertEqual(versions, [29] * 10)
        self.run_async(main())

    def test_subscriptions(self):
        async def main():
            st = fresh()
            async with cxesdb.aio.Client("127.0.0.1", self.node.port) as c:
                await c.create_store(st)
                await c.append("a", [{"event_type": "A", "data": i}
                                     for i in range(50)], store=st)

                async def more():
                    for i in range(50, 100):
                        await c.append("b", [{"event_type": "A", "data": i}],
                                       store=st)

                got = []
                async with c.subscribe("by_stream", "$all",
                                       start_from="origin", store=st) as sub:
                    task = asyncio.create_task(more())
                    async for ev in sub:
                        got.append(ev["data"])
                        if len(got) == 100:
                            break
                    await task
                self.assertEqual(got, list(range(100)))

                sub = await c.subscribe("by_event_type", "A", name="p",
                                        start_from="origin", store=st)
                first = [await sub.next_event(10) for _ in range(3)]
                self.assertEqual(await sub.ack(first[-1]), 2)
                await sub.close()
                async with c.subscribe("by_event_type", "A", name="p",
                                       store=st) as again:
                    self.assertEqual((await again.next_event(10))["data"], 3)
                    self.assertEqual(await c.unsubscribe(again),
                                     {"unsubscribed": True})
        self.run_async(main())

    def test_reconnect_after_a_restart(self):
        node = Node()
        self.addCleanup(node.close)

        async def main():
            st = fresh()
            async with cxesdb.aio.Client("127.0.0.1", node.port,
                                         timeout=30.0) as c:
                await c.create_store(st)
                await c.append("a", [{"event_type": "A", "data": 0}],
                               store=st)
                sub = await c.subscribe("by_stream", "a",
                                        start_from="origin", store=st)
                self.assertEqual((await sub.next_event(10))["data"], 0)
                node.restart()  # blocks the loop; the client sees EOF later
                await c.append("a", [{"event_type": "A", "data": 1}],
                               store=st)
                self.assertEqual((await sub.next_event(20))["data"], 1)
                self.assertGreaterEqual(sub.reconnects, 1)
                await sub.close()
        self.run_async(main())


if __name__ == "__main__":
    unittest.main()
