"""The docs cannot drift: every option of the table is in --help, the man page and operations.md."""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
from harness import BIN, TestCase, main  # noqa: E402

DOCS = os.path.join(os.path.dirname(__file__), "..", "..", "docs")


def table_options():
    """Every option name, read from the program's own table through --check-config."""
    names = set()
    for command in ("serve-a", "serve-b", "up"):
        out = subprocess.run([BIN, command, "--check-config"], capture_output=True,
                             check=True, timeout=10, env={"PATH": os.environ.get("PATH", "")})
        for line in out.stdout.decode().splitlines():
            m = re.match(r"^([a-z-]+) = ", line)
            if m and m.group(1) != "command":
                names.add(m.group(1))
    return sorted(names)


class Docs(TestCase):
    def setUp(self):
        super().setUp()
        self.options = table_options()
        self.assertGreaterEqual(len(self.options), 16)

    def test_help(self):
        text = subprocess.run([BIN, "--help"], capture_output=True, timeout=10).stdout.decode()
        for name in self.options:
            self.assertIn("--%s " % name, text)

    def test_man_page(self):
        with open(os.path.join(DOCS, "echosvc.1")) as f:
            text = f.read().replace("\\-", "-")
        for name in self.options:
            self.assertIn(".BI --%s " % name, text)
        # the version in the title is the binary's
        version = subprocess.run([BIN, "--version"], capture_output=True,
                                 timeout=10).stdout.decode().split()[1]
        self.assertRegex(text, r'^\.TH ECHOSVC 1 "\d{4}" "echosvc %s"' % re.escape(version))
        self.assertIn("128+N", text)

    def test_operations_md(self):
        with open(os.path.join(DOCS, "operations.md")) as f:
            text = f.read()
        for name in self.options:
            env = "ECHOSVC_" + name.upper().replace("-", "_")
            self.assertRegex(text, r"\| `--%s[ `].*\| `%s` \|" % (re.escape(name), env))


if __name__ == "__main__":
    main()
