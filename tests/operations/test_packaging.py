"""Packaging (issue 13): ``--version`` on every binary, ``CXESDB_<FLAG>``
environment variables, ``--log-level`` and ``--log-format json``, the
systemd readiness notification, and ``meson install``. Every test starts the
real binaries (paths from the environment meson gives the suite)."""

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

import cxesdb
from harness import NODE, Node, wait_until

SHELL = os.environ.get("CXESDB_SHELL", "")
BENCH = os.environ.get("CXESDB_BENCH", "")
VERSION = os.environ.get("CXESDB_PROJECT_VERSION", "")
SOURCE_ROOT = os.environ.get("CXESDB_SOURCE_ROOT", "")
BUILD_ROOT = os.environ.get("CXESDB_BUILD_ROOT", "")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def node_env(**extra):
    """The test's environment without any CXESDB_ flag variable, plus
    ``extra``."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("CXESDB_") or k == "CXESDB_NODE"}
    env.update(extra)
    return env


class WithEnv:
    """Sets environment variables around a harness start (the node inherits
    the test's environment)."""

    def __init__(self, **values):
        self.values = values
        self.saved = {}

    def __enter__(self):
        for k, v in self.values.items():
            self.saved[k] = os.environ.get(k)
            os.environ[k] = v

    def __exit__(self, *exc):
        for k, v in self.saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def health_node(node):
    with cxesdb.Client("127.0.0.1", node.port, timeout=30.0) as c:
        return c.health()["node"]


class Version(unittest.TestCase):
    def test_every_binary_prints_the_project_version_and_commit(self):
        in_git = os.path.isdir(os.path.join(SOURCE_ROOT, ".git")) or \
            os.path.isfile(os.path.join(SOURCE_ROOT, ".git"))
        for binary, name in ((NODE, "cxesdb-node"), (SHELL, "cxesdb-shell"),
                             (BENCH, "cxesdb-bench")):
            with self.subTest(binary=name):
                out = subprocess.run([binary, "--version"], capture_output=True,
                                     text=True, timeout=30)
                self.assertEqual(out.returncode, 0, out.stderr)
                line = out.stdout.strip()
                self.assertTrue(line.startswith("%s %s" % (name, VERSION)),
                                line)
                if in_git:
                    self.assertIn("(git ", line)


class Environment(unittest.TestCase):
    def test_environment_sets_a_flag(self):
        with WithEnv(CXESDB_NODE_NAME="from_env"):
            node = Node()  # the harness passes no --node-name
        self.addCleanup(node.close)
        self.assertEqual(health_node(node), "from_env")

    def test_flag_beats_environment_beats_config_file(self):
        tmp = tempfile.mkdtemp(prefix="cxesdb-ops-")
        self.addCleanup(shutil.rmtree, tmp, True)
        cfg = os.path.join(tmp, "node.json")
        with open(cfg, "w") as f:
            json.dump({"node-name": "from_config",
                       "default-store": "from_config_store",
                       "max-stores": 77}, f)
        with WithEnv(CXESDB_CONFIG=cfg, CXESDB_NODE_NAME="from_env",
                     CXESDB_DEFAULT_STORE="from_env_store"):
            node = Node(extra_args=["--default-store", "from_flag_store",
                                    "--log-level", "debug"])
        self.addCleanup(node.close)
        self.assertEqual(health_node(node), "from_env")
        with cxesdb.Client("127.0.0.1", node.port, timeout=30.0) as c:
            stores = c.list_stores()
        self.assertIn("from_flag_store", stores)
        self.assertNotIn("from_env_store", stores)
        log = node.log_tail(200000)
        self.assertIn("option max-stores = 77 (config)", log)
        self.assertIn("option node-name = from_env (env)", log)
        self.assertIn("option default-store = from_flag_store (flag)", log)
        self.assertIn("option workers = 4 (default)", log)

    def test_bad_environment_value_is_refused_with_its_name(self):
        out = subprocess.run([NODE], capture_output=True, text=True,
                             timeout=30,
                             env=node_env(CXESDB_LOG_LEVEL="chatty"))
        self.assertEqual(out.returncode, 2)
        self.assertIn("log-level", out.stderr)
        self.assertIn("chatty", out.stderr)


class Logging(unittest.TestCase):
    def test_json_lines_are_objects_with_ts_level_msg_and_fields(self):
        node = Node(extra_args=["--log-format", "json"])
        self.addCleanup(node.close)
        node.stop()
        with open(node.log_path, "rb") as f:
            lines = [l for l in f.read().decode().splitlines()
                     if not l.startswith("=== ")]
        self.assertTrue(lines)
        records = [json.loads(l) for l in lines]  # every line is JSON
        for r in records:
            self.assertIn(r["level"], ("debug", "info", "warn", "error"))
            self.assertRegex(r["ts"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
            self.assertIsInstance(r["msg"], str)
        listening = [r for r in records
                     if r["msg"].startswith("listening for clients on ")]
        self.assertEqual(len(listening), 1)
        self.assertEqual(listening[0]["address"], "127.0.0.1:%d" % node.port)
        self.assertTrue(any(r["msg"] == "stopped" for r in records))

    def run_quiet_node(self, level):
        """Starts a node on fixed free ports without the harness (which
        waits for info lines), waits until it answers, stops it and returns
        its stderr."""
        tmp = tempfile.mkdtemp(prefix="cxesdb-ops-")
        self.addCleanup(shutil.rmtree, tmp, True)
        port = free_port()
        proc = subprocess.Popen(
            [NODE, "--data-dir", os.path.join(tmp, "data"), "--client-port",
             str(port), "--api-port", "0", "--cluster-port", "0",
             "--http-port", "0",
             "--log-level", level],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, env=node_env())
        self.addCleanup(lambda: proc.poll() is None and proc.kill())

        def answers():
            try:
                with cxesdb.Client("127.0.0.1", port, timeout=5.0) as c:
                    return c.health()["status"] == "ok"
            except (OSError, cxesdb.Error):
                return False
        wait_until(answers, 60, poll=0.1, what="the node to answer")
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        self.assertEqual(proc.returncode, 0)
        return err.decode()

    def test_warn_level_drops_info_lines(self):
        err = self.run_quiet_node("warn")
        self.assertNotIn(" INFO ", err)
        self.assertNotIn(" DEBUG ", err)

    def test_debug_level_shows_the_options_and_their_sources(self):
        err = self.run_quiet_node("debug")
        self.assertRegex(err, r" DEBUG option client-port = \d+ \(flag\)\n")
        self.assertIn(" INFO listening for clients on ", err)

    def test_unknown_level_is_refused(self):
        out = subprocess.run([NODE, "--log-level", "chatty"],
                             capture_output=True, text=True, timeout=30,
                             env=node_env())
        self.assertEqual(out.returncode, 2)
        self.assertIn("--log-level must be debug, info, warn or error",
                      out.stderr)


class Systemd(unittest.TestCase):
    def test_node_sends_ready_once_it_serves_and_stopping_on_sigterm(self):
        tmp = tempfile.mkdtemp(prefix="cxesdb-ops-")
        self.addCleanup(shutil.rmtree, tmp, True)
        path = os.path.join(tmp, "notify")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(sock.close)
        sock.bind(path)
        sock.settimeout(30)
        with WithEnv(NOTIFY_SOCKET=path):
            node = Node()
        self.addCleanup(node.close)
        ready = sock.recv(4096).decode()
        self.assertIn("READY=1", ready.splitlines())
        # Ready means serving: a request is answered at once.
        self.assertTrue(health_node(node))
        node.stop()
        self.assertIn("STOPPING=1", sock.recv(4096).decode().splitlines())


class Install(unittest.TestCase):
    def test_meson_install_puts_binaries_unit_and_config_in_place(self):
        dest = tempfile.mkdtemp(prefix="cxesdb-install-")
        self.addCleanup(shutil.rmtree, dest, True)
        out = subprocess.run(["meson", "install", "-C", BUILD_ROOT,
                              "--destdir", dest, "--no-rebuild", "--quiet"],
                             capture_output=True, text=True, timeout=300)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        found = {}
        for root, _, files in os.walk(dest):
            for name in files:
                found.setdefault(name, os.path.join(root, name))
        for name in ("cxesdb-node", "cxesdb-shell", "cxesdb-bench"):
            self.assertIn(name, found)
            self.assertTrue(os.access(found[name], os.X_OK), name)
        self.assertIn("cxesdb-node.service", found)
        self.assertIn("node.json", found)
        unit_path = found["cxesdb-node.service"]
        self.assertTrue(unit_path.endswith("/lib/systemd/system/"
                                           "cxesdb-node.service"), unit_path)
        with open(unit_path) as f:
            unit = f.read()
        self.assertIn("Type=notify", unit)
        exec_line = [l for l in unit.splitlines()
                     if l.startswith("ExecStart=")][0]
        binary = exec_line.split("=", 1)[1].split()[0]
        config = exec_line.split("--config", 1)[1].split()[0]
        # The unit names the installed binary and config file.
        self.assertEqual(dest + binary, found["cxesdb-node"])
        self.assertEqual(dest + config, found["node.json"])
        with open(found["node.json"]) as f:
            sample = json.load(f)
        self.assertIn("data-dir", sample)
        # The sample config is one the installed node starts with (the
        # harness's flags beat its ports and data directory).
        node = Node(extra_args=["--config", found["node.json"]])
        self.addCleanup(node.close)
        self.assertEqual(health_node(node), sample["node-name"])
        node.close()
        analyze = shutil.which("systemd-analyze")
        if analyze is None:
            self.skipTest("no systemd-analyze here")
        # Verify the unit with ExecStart pointing into the destdir (the
        # tool checks that the binary exists).
        check_dir = tempfile.mkdtemp(prefix="cxesdb-unit-")
        self.addCleanup(shutil.rmtree, check_dir, True)
        check_unit = os.path.join(check_dir, "cxesdb-node.service")
        with open(check_unit, "w") as f:
            f.write(unit.replace("ExecStart=" + binary,
                                 "ExecStart=" + dest + binary))
        res = subprocess.run([analyze, "verify", check_unit],
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(res.returncode, 0, res.stdout + res.stderr)
        self.assertEqual(res.stderr.strip(), "", res.stderr)


if __name__ == "__main__":
    unittest.main()
