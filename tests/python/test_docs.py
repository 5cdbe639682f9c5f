"""The examples of docs/python.md run as written, against a real node (only
the port differs)."""

import contextlib
import io
import os
import re
import unittest

from harness import Node

DOC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                   "docs", "python.md")


def python_blocks():
    with open(DOC, encoding="utf-8") as f:
        return re.findall(r"```python\n(.*?)```", f.read(), re.S)


class Docs(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.node = Node()
        cls.addClassCleanup(cls.node.close)

    def run_block(self, code):
        code = code.replace("7411", str(self.node.port))
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(code, DOC, "exec"), {"__name__": "__main__"})
        return out.getvalue()

    def test_quick_start_runs_twice(self):
        quick = python_blocks()[0]
        first = self.run_block(quick)
        self.assertIn("appended {'version': 0, 'position': 0}", first)
        self.assertIn("order-1 is at version 0", first)
        self.assertIn("1 events in $all", first)
        second = self.run_block(quick)
        self.assertIn("appended {'version': 1, 'position': 1}", second)
        self.assertIn("'leader': 'node1'", second)

    def test_asyncio_example_runs(self):
        out = self.run_block(python_blocks()[1])
        self.assertIn("'event_type': 'OrderPlaced'", out)


if __name__ == "__main__":
    unittest.main()
