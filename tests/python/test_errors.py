"""Every error class the node produces today, raised by the client from the
node's real answers. (internal_error, unauthorized and stream_deleted are
not produced by the node yet; test_offline maps them. unavailable from the
node is in test_cluster.)"""

import json
import unittest
import uuid

import cxesdb
from harness import Node, NodeCase, fresh, raw_exchange, run_threads

EVENT_LIMIT = 4096
MESSAGE_LIMIT = 1 << 20


class Errors(NodeCase):
    node_args = ("--max-event-bytes", str(EVENT_LIMIT),
                 "--max-message-bytes", str(MESSAGE_LIMIT))

    def check(self, cls, fn, *args, **kwargs):
        with self.assertRaises(cls) as cm:
            fn(*args, **kwargs)
        e = cm.exception
        self.assertIs(type(e), cls)
        self.assertEqual(e.data["reason"], e.reason)
        self.assertEqual(e.code, cxesdb.ERROR_CLASSES[e.reason].code)
        self.assertTrue(e.message)
        self.assertFalse(e.local)
        return e

    def test_parse_error_and_invalid_request_answers(self):
        answers = raw_exchange(self.node.port, [
            b'{"jsonrpc":"2.0","id":1,"method":"health"\n',
            b'{"id":34,"method":"health"}\n'])
        kinds = sorted(type(cxesdb.error_from_response(a)).__name__
                       for a in answers)
        self.assertEqual(kinds, ["InvalidRequest", "ParseError"])

    def test_too_large_message_answer(self):
        line = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "health",
                           "params": {"pad": "x" * MESSAGE_LIMIT}})
        (answer,) = raw_exchange(self.node.port, [line.encode() + b"\n"])
        e = cxesdb.error_from_response(answer)
        self.assertIsInstance(e, cxesdb.TooLarge)
        self.assertEqual(e.limit, MESSAGE_LIMIT)

    def test_method_not_found(self):
        self.check(cxesdb.MethodNotFound, self.c.call, "launch_rockets")

    def test_invalid_params(self):
        e = self.check(cxesdb.InvalidParams, self.c.get_events, "s", count=0,
                       store=self.store)
        self.assertEqual(e.field, "count")
        e = self.check(cxesdb.InvalidParams, self.c.create_store, "../etc")
        self.assertEqual(e.field, "store")
        e = self.check(cxesdb.InvalidParams, self.c.append, "s",
                       [{"event_type": "A", "data": 1, "event_id": "nope"}],
                       store=self.store)
        self.assertEqual(e.field, "events[0].event_id")
        e = self.check(cxesdb.InvalidParams, self.c.call, "health",
                       verbose=True)
        self.assertEqual(e.field, "verbose")
        e = self.check(cxesdb.InvalidParams, self.c.append, "s",
                       [{"event_type": "A", "data": 1}],
                       expected_version="sometimes", store=self.store)
        self.assertEqual(e.field, "expected_version")

    def test_not_found(self):
        e = self.check(cxesdb.NotFound, self.c.get_version, "s",
                       store="nosuch")
        self.assertEqual(e.what, "store")
        e = self.check(cxesdb.NotFound, self.c.read_snapshot, "a", "b",
                       store=self.store)
        self.assertEqual(e.what, "snapshot")
        e = self.check(cxesdb.NotFound, self.c.unsubscribe, "transient-999999",
                       store=self.store)
        self.assertEqual(e.what, "subscription")
        self.check(cxesdb.NotFound, self.c.remove_store, fresh("gone"))

    def test_already_exists(self):
        self.check(cxesdb.AlreadyExists, self.c.create_store, self.store)
        with self.c.subscribe("by_stream", "a", name="taken",
                              store=self.store):
            self.check(cxesdb.AlreadyExists, self.c.subscribe, "by_stream",
                       "b", name="taken", store=self.store)

    def test_wrong_expected_version(self):
        self.c.append("s", [{"event_type": "A", "data": 1}], store=self.store)
        e = self.check(cxesdb.WrongExpectedVersion, self.c.append, "s",
                       [{"event_type": "A", "data": 2}],
                       expected_version="no_stream", store=self.store)
        self.assertEqual((e.current_version, e.expected_version),
                         (0, "no_stream"))
        e = self.check(cxesdb.WrongExpectedVersion, self.c.append, "s",
                       [{"event_type": "A", "data": 2}], expected_version=5,
                       store=self.store)
        self.assertEqual((e.current_version, e.expected_version), (0, 5))

    def test_forbidden(self):
        self.check(cxesdb.Forbidden, self.c.remove_store, "default")

    def test_too_large(self):
        e = self.check(cxesdb.TooLarge, self.c.append, "s",
                       [{"event_type": "A", "data": "x" * EVENT_LIMIT}],
                       store=self.store)
        self.assertEqual(e.limit, EVENT_LIMIT)
        e = self.check(cxesdb.TooLarge, self.c.append, "s",
                       [{"event_type": "A", "data": 0}] * 10001,
                       store=self.store)
        self.assertEqual(e.limit, 10000)
        self.assertEqual(self.c.get_version("s", store=self.store), -1)

    def test_duplicate_event(self):
        first = {"event_id": str(uuid.uuid4()), "event_type": "A", "data": 1}
        self.c.append("s", [first], store=self.store)
        self.check(cxesdb.DuplicateEvent, self.c.append, "s",
                   [first, {"event_type": "A", "data": 2}], store=self.store)

    def test_timeout_when_the_node_does_not_answer(self):
        c = cxesdb.Client("127.0.0.1", self.node.port, timeout=0.5)
        self.addCleanup(c.close)
        self.node.suspend()
        try:
            with self.assertRaises(cxesdb.Timeout) as cm:
                c.health()
            self.assertTrue(cm.exception.local)
        finally:
            self.node.resume()
        self.assertEqual(c.health()["status"], "ok")


class Overload(NodeCase):
    node_args = ("--write-queue", "1")

    def test_overloaded_is_raised_without_retries_and_retried_by_default(self):
        eager = cxesdb.Client("127.0.0.1", self.node.port, retry_attempts=0)
        self.addCleanup(eager.close)
        patient = cxesdb.Client("127.0.0.1", self.node.port)
        self.addCleanup(patient.close)
        raised = []

        def work(i):
            for k in range(30):
                try:
                    eager.append("e-%d" % i, [{"event_type": "A", "data": k}],
                                 store=self.store)
                except cxesdb.Overloaded as e:
                    raised.append(e)
                patient.append("p-%d" % i, [{"event_type": "A", "data": k}],
                               store=self.store)

        run_threads(8, work)
        self.assertTrue(raised, "--write-queue 1 never overloaded the store")
        e = raised[0]
        self.assertEqual((e.reason, e.code, e.local),
                         ("overloaded", -32009, False))
        for i in range(8):
            self.assertEqual(patient.get_version("p-%d" % i,
                                                 store=self.store), 29)


class NodeTimeout(unittest.TestCase):
    def test_timeout_answered_by_the_node(self):
        node = Node(extra_args=("--request-timeout-ms", "1"))
        self.addCleanup(node.close)
        with cxesdb.Client("127.0.0.1", node.port) as c:
            with self.assertRaises(cxesdb.Timeout) as cm:
                c.create_store("late")
            self.assertFalse(cm.exception.local)
            self.assertEqual(cm.exception.code, -32005)


if __name__ == "__main__":
    unittest.main()
