"""Parts of the client that need no node: error mapping, event preparation,
settings, and TLS with a token (protocol section 8) against a stand-in
server (test_security.py runs them against a real node)."""

import asyncio
import json
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import unittest
import uuid

import cxesdb
import cxesdb.aio
from cxesdb._api import is_safe, prepare_events

REASONS = {
    "parse_error": (-32700, cxesdb.ParseError),
    "invalid_request": (-32600, cxesdb.InvalidRequest),
    "method_not_found": (-32601, cxesdb.MethodNotFound),
    "invalid_params": (-32602, cxesdb.InvalidParams),
    "internal_error": (-32603, cxesdb.InternalError),
    "not_found": (-32001, cxesdb.NotFound),
    "already_exists": (-32002, cxesdb.AlreadyExists),
    "wrong_expected_version": (-32003, cxesdb.WrongExpectedVersion),
    "unavailable": (-32004, cxesdb.Unavailable),
    "timeout": (-32005, cxesdb.Timeout),
    "unauthorized": (-32006, cxesdb.Unauthorized),
    "forbidden": (-32007, cxesdb.Forbidden),
    "too_large": (-32008, cxesdb.TooLarge),
    "overloaded": (-32009, cxesdb.Overloaded),
    "duplicate_event": (-32010, cxesdb.DuplicateEvent),
    "stream_deleted": (-32011, cxesdb.StreamDeleted),
}


class ErrorMapping(unittest.TestCase):
    def test_every_reason_of_the_contract_has_its_class(self):
        self.assertEqual(set(cxesdb.ERROR_CLASSES), set(REASONS))
        for reason, (code, cls) in REASONS.items():
            e = cxesdb.error_from_response(
                {"jsonrpc": "2.0", "id": 1, "error": {
                    "code": code, "message": "text",
                    "data": {"reason": reason, "x": 1}}})
            self.assertIs(type(e), cls, reason)
            self.assertIsInstance(e, cxesdb.Error)
            self.assertEqual((e.reason, e.code, e.message), (reason, code,
                                                             "text"))
            self.assertEqual(e.data, {"reason": reason, "x": 1})
            self.assertFalse(e.local)

    def test_extra_fields(self):
        e = cxesdb.error_from_response({"code": -32003, "message": "m",
                                        "data": {"reason":
                                                 "wrong_expected_version",
                                                 "current_version": 4,
                                                 "expected_version": 2}})
        self.assertEqual((e.current_version, e.expected_version), (4, 2))
        e = cxesdb.error_from_response({"code": -32602, "message": "m",
                                        "data": {"reason": "invalid_params",
                                                 "field": "count"}})
        self.assertEqual(e.field, "count")
        e = cxesdb.error_from_response({"code": -32008, "message": "m",
                                        "data": {"reason": "too_large",
                                                 "limit": 9}})
        self.assertEqual(e.limit, 9)
        self.assertIn("limit=9", str(e))

    def test_unknown_reason_and_missing_data(self):
        e = cxesdb.error_from_response({"code": -32099, "message": "new",
                                        "data": {"reason": "brand_new"}})
        self.assertIs(type(e), cxesdb.Error)
        self.assertEqual((e.reason, e.code), ("brand_new", -32099))
        e = cxesdb.error_from_response({"code": -32601, "message": "m"})
        self.assertIs(type(e), cxesdb.MethodNotFound)

    def test_errors_pickle(self):
        import pickle
        e = cxesdb.NotFound("gone", {"what": "store"})
        e2 = pickle.loads(pickle.dumps(e))
        self.assertEqual((type(e2), e2.what, e2.message),
                         (cxesdb.NotFound, "store", "gone"))


class Events(unittest.TestCase):
    def test_ids_are_set_and_inputs_untouched(self):
        given = [{"event_type": "A", "data": 1},
                 {"event_type": "B", "data": 2, "event_id": "x"}]
        out = prepare_events(given)
        self.assertNotIn("event_id", given[0])
        self.assertEqual(uuid.UUID(out[0]["event_id"]).version, 7)
        self.assertEqual(out[1]["event_id"], "x")
        self.assertTrue(is_safe("append_events", {"events": out}))
        self.assertFalse(is_safe("append_events", {"events": given}))
        self.assertTrue(is_safe("get_events", {}))
        self.assertFalse(is_safe("create_store", {}))

    def test_ids_are_unique_and_ordered(self):
        ids = [cxesdb.new_event_id() for _ in range(1000)]
        self.assertEqual(len(set(ids)), 1000)
        self.assertEqual([i[:8] for i in ids], sorted(i[:8] for i in ids))

    def test_bytes_become_base64(self):
        out = prepare_events([{"event_type": "Bin", "data": b"\x00\xff"}])
        self.assertEqual(out[0]["content_type"], "application/octet-stream")
        self.assertEqual(cxesdb.event_bytes(out[0]), b"\x00\xff")

    def test_events_must_be_a_list_of_dicts(self):
        with self.assertRaises(TypeError):
            prepare_events({"event_type": "A", "data": 1})
        with self.assertRaises(TypeError):
            prepare_events(["A"])


class Settings(unittest.TestCase):
    def test_every_limit_has_a_default_and_is_checked(self):
        s = cxesdb.Settings()
        self.assertEqual(s.timeout, 10.0)
        with self.assertRaises(TypeError):
            cxesdb.Client("127.0.0.1", 1, connect=False, no_such_limit=1)
        with self.assertRaises(ValueError):
            cxesdb.Client("127.0.0.1", 1, connect=False, timeout=0)

    def test_unreachable_node_is_unavailable(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]  # nobody listens once closed
        with self.assertRaises(cxesdb.Unavailable) as cm:
            cxesdb.Client("127.0.0.1", port, reconnect_attempts=2,
                          reconnect_delay=0.01, timeout=2.0)
        self.assertTrue(cm.exception.local)

    def test_oversized_request_is_refused_before_sending(self):
        c = cxesdb.Client("127.0.0.1", 1, connect=False,
                          max_message_bytes=100)
        with self.assertRaises(cxesdb.TooLarge) as cm:
            c.call("health", pad="x" * 200)
        self.assertEqual(cm.exception.limit, 100)
        self.assertTrue(cm.exception.local)


TOKEN = "s3cret-token-0123456789"


class _StandIn:
    """A TLS server that speaks just enough of the protocol: authenticate
    (one token), health, and a method that closes the connection."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.auth_calls = 0
        self.conns = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while True:
            try:
                raw, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(raw,),
                             daemon=True).start()

    def _serve(self, raw):
        try:
            conn = self.ctx.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError):
            raw.close()
            return
        self.conns.append(conn)
        authed = False
        f = conn.makefile("rwb")
        try:
            for line in f:
                req = json.loads(line)
                method, rid = req["method"], req.get("id")
                if method == "authenticate":
                    self.auth_calls += 1
                    if req["params"].get("token") == TOKEN:
                        authed = True
                        resp = {"result": {"authenticated": True,
                                           "user": "ops", "role": "admin"}}
                    else:
                        resp = {"error": {"code": -32006, "message": "no",
                                          "data": {"reason": "unauthorized"}}}
                elif not authed:
                    resp = {"error": {"code": -32006, "message": "first",
                                      "data": {"reason": "unauthorized"}}}
                elif method == "drop":
                    conn.close()
                    return
                else:
                    resp = {"result": {"status": "ok", "node": "standin"}}
                resp.update(jsonrpc="2.0", id=rid)
                f.write(json.dumps(resp).encode() + b"\n")
                f.flush()
        except (OSError, ValueError):
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def close(self):
        self.sock.close()
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass


@unittest.skipUnless(shutil.which("openssl"), "needs the openssl command")
class TlsAndToken(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="cxesdb-py-tls-")
        cls.addClassCleanup(shutil.rmtree, cls.dir, True)
        cls.cert = os.path.join(cls.dir, "cert.pem")
        key = os.path.join(cls.dir, "key.pem")
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
             "-keyout", key, "-out", cls.cert, "-days", "2",
             "-subj", "/CN=127.0.0.1", "-addext",
             "subjectAltName=IP:127.0.0.1"],
            check=True, capture_output=True, timeout=60)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cls.cert, key)
        cls.server = _StandIn(ctx)
        cls.addClassCleanup(cls.server.close)

    def test_sync_client_authenticates_after_every_connect(self):
        before = self.server.auth_calls
        with cxesdb.Client("127.0.0.1", self.server.port, token=TOKEN,
                           tls_ca=self.cert, timeout=5.0) as c:
            self.assertEqual(c.health()["node"], "standin")
            self.assertEqual(self.server.auth_calls, before + 1)
            with self.assertRaises(cxesdb.Timeout):
                c.call("drop")  # not safe to repeat: outcome unknown
            self.assertEqual(c.health()["node"], "standin")  # reconnected
            self.assertEqual(self.server.auth_calls, before + 2)

    def test_wrong_token_is_unauthorized(self):
        with self.assertRaises(cxesdb.Unauthorized):
            cxesdb.Client("127.0.0.1", self.server.port, token="wrong" * 4,
                          tls_ca=self.cert, timeout=5.0)

    def test_unknown_ca_fails_to_connect(self):
        with self.assertRaises(cxesdb.Unavailable):
            cxesdb.Client("127.0.0.1", self.server.port, token=TOKEN,
                          tls_ca=True, timeout=3.0, reconnect_attempts=1)

    def test_asyncio_client(self):
        async def main():
            async with cxesdb.aio.Client("127.0.0.1", self.server.port,
                                         token=TOKEN, tls_ca=self.cert,
                                         timeout=5.0) as c:
                self.assertEqual((await c.health())["node"], "standin")
                results = await asyncio.gather(*(c.health()
                                                 for _ in range(50)))
                self.assertEqual(len(results), 50)
        asyncio.run(main())


if __name__ == "__main__":
    unittest.main()
