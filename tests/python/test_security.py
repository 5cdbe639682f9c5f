"""The Python client against a real node with authentication and TLS
(protocol section 8): a token and a CA, a client certificate, rights that
refuse a call, a wrong token, and a plain connection to a TLS port."""

import asyncio
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import unittest

import cxesdb
import cxesdb.aio
from harness import Node

ADMIN = "py-admin-token-0123456789"
READER = "py-reader-token-0123456789"


def _openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True,
                   timeout=60)


def _cert(d, name, ca=None):
    """A key and certificate in ``d``: self-signed CA when ``ca`` is None,
    else signed by ``ca`` and naming 127.0.0.1."""
    cert, key = os.path.join(d, name + ".pem"), os.path.join(d, name + ".key")
    if ca is None:
        _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt",
                 "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key,
                 "-out", cert, "-days", "2", "-subj", "/CN=" + name)
        return cert, key
    csr, ext = os.path.join(d, name + ".csr"), os.path.join(d, name + ".ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    _openssl("req", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key,
             "-out", csr, "-subj", "/CN=" + name)
    _openssl("x509", "-req", "-in", csr, "-CA", ca[0], "-CAkey", ca[1],
             "-CAcreateserial", "-out", cert, "-days", "2", "-extfile", ext)
    return cert, key


def _digest(token):
    return hashlib.sha256(token.encode()).hexdigest()


@unittest.skipUnless(shutil.which("openssl"), "needs the openssl command")
class AuthAndTls(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="cxesdb-py-sec-")
        cls.addClassCleanup(shutil.rmtree, cls.dir, True)
        cls.ca = _cert(cls.dir, "ca")
        server = _cert(cls.dir, "server", cls.ca)
        cls.client_cert = _cert(cls.dir, "client", cls.ca)
        auth = os.path.join(cls.dir, "auth.json")
        with open(auth, "w") as f:
            json.dump({"users": [
                {"name": "ops", "token_sha256": _digest(ADMIN),
                 "role": "admin"},
                {"name": "viewer", "token_sha256": _digest(READER),
                 "stores": {"py_secured": "reader"}}]}, f)
        cls.node = Node(extra_args=[
            "--auth-file", auth, "--tls-cert", server[0], "--tls-key",
            server[1], "--tls-client-ca", cls.ca[0]])
        cls.addClassCleanup(cls.node.close)

    def client(self, token, **kw):
        kw.setdefault("tls_ca", self.ca[0])
        kw.setdefault("tls_cert", self.client_cert[0])
        kw.setdefault("tls_key", self.client_cert[1])
        return cxesdb.Client("127.0.0.1", self.node.port, token=token,
                             timeout=10.0, **kw)

    def test_admin_and_reader(self):
        with self.client(ADMIN) as admin:
            try:
                admin.create_store("py_secured")
            except cxesdb.AlreadyExists:
                pass
            admin.append_events("s", [{"event_type": "T", "data": {"a": 1}}],
                                store="py_secured")
        with self.client(READER) as reader:
            self.assertEqual(reader.authenticate(READER)["user"], "viewer")
            self.assertGreaterEqual(
                reader.get_version("s", store="py_secured"), 0)
            with self.assertRaises(cxesdb.Forbidden) as e:
                reader.append_events("s", [{"event_type": "T", "data": 1}],
                                     store="py_secured")
            self.assertEqual(e.exception.data.get("store"), "py_secured")
            with self.assertRaises(cxesdb.Forbidden):
                reader.create_store("py_other")

    def test_wrong_token(self):
        with self.assertRaises(cxesdb.Unauthorized):
            self.client("not-the-token-0123456789")

    def test_no_client_certificate_or_no_tls(self):
        with self.assertRaises(cxesdb.Error):
            c = self.client(ADMIN, tls_cert=None, tls_key=None,
                            reconnect_attempts=1)
            c.health()
        with self.assertRaises(cxesdb.Error):
            c = self.client(ADMIN, tls_ca=None, tls_cert=None, tls_key=None,
                            reconnect_attempts=1, connect_timeout=3.0)
            c.health()
        self.assertTrue(self.node.running())

    def test_asyncio_client(self):
        async def main():
            async with cxesdb.aio.Client(
                    "127.0.0.1", self.node.port, token=ADMIN,
                    tls_ca=self.ca[0], tls_cert=self.client_cert[0],
                    tls_key=self.client_cert[1], timeout=10.0) as c:
                results = await asyncio.gather(*(c.health()
                                                 for _ in range(20)))
                self.assertEqual(len(results), 20)
                await c.list_stores()
        asyncio.run(main())

    def test_token_not_in_log(self):
        with self.client(ADMIN) as c:
            c.health()
        with open(self.node.log_path) as f:
            log = f.read()
        for t in (ADMIN, READER):
            self.assertNotIn(t, log)
            self.assertNotIn(_digest(t), log)


if __name__ == "__main__":
    unittest.main()
