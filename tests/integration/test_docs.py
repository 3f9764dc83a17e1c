"""The docs cannot drift: every option of the table is in --help, the man page and
operations.md; the README's TLS commands run as written (but for the ports)."""
import grp
import os
import re
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import BIN, TestCase, free_port, main  # noqa: E402

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
DOCS = os.path.join(ROOT, "docs")


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


def readme_block(starting_with):
    """The README's sh block whose first line starts so, as commands: continuation
    lines joined, comments dropped."""
    with open(os.path.join(ROOT, "README.md")) as f:
        blocks = re.findall(r"```sh\n(.*?)```", f.read(), re.S)
    block = [b for b in blocks if b.startswith(starting_with)]
    assert len(block) == 1, starting_with
    text = block[0].replace("\\\n", " ")
    return [re.sub(r"\s+#\s.*$", "", line).strip() for line in text.splitlines() if line.strip()]


@unittest.skipIf(shutil.which("openssl") is None or shutil.which("curl") is None,
                 "openssl or curl is not installed")
class ReadmeTls(TestCase):
    def test_tls_commands_run_as_written(self):
        """deploy/tls/make-certs, A with client certificates required, B calling it over TLS,
        curl to each, renewed certificates and a SIGHUP: each command of the block in turn,
        with free ports for 8080 and 8081 and the pki directory in a temporary folder."""
        work = tempfile.mkdtemp(prefix="echosvc-readme-tls-")
        self.addCleanup(shutil.rmtree, work, True)
        ports = {"8080": free_port(), "8081": free_port()}
        services = []

        def local(word):
            for port, free in ports.items():
                word = word.replace(":" + port, ":%d" % free)
            return word.replace("pki/", work + "/pki/") if word.startswith("pki/") else word

        def served_certificate():
            ctx = ssl.create_default_context(cafile=os.path.join(work, "pki", "ca.pem"))
            ctx.load_cert_chain(os.path.join(work, "pki", "client.pem"),
                                os.path.join(work, "pki", "client.key"))
            with socket.create_connection(("127.0.0.1", ports["8080"]), timeout=10) as sock:
                with ctx.wrap_socket(sock, server_hostname="localhost") as tls:
                    return tls.getpeercert(binary_form=True)

        renewed = None
        for line in readme_block("deploy/tls/make-certs"):
            for command in line.split(" && "):
                words = shlex.split(command)
                if words[0] == "deploy/tls/make-certs":
                    r = subprocess.run([os.path.join(ROOT, words[0])] + words[1:], cwd=work,
                                       capture_output=True, text=True, timeout=120)
                    self.assertEqual(r.returncode, 0, r.stderr)
                    if services:
                        with open(os.path.join(work, "pki", "a.pem")) as f:
                            renewed = ssl.PEM_cert_to_DER_cert(f.read())
                elif words[0] == "build/src/echosvc":
                    self.assertEqual(words[-1], "&")
                    port = ports["8080" if words[1] == "serve-a" else "8081"]
                    services.append(self.start(*[local(w) for w in words[1:-1]],
                                               listen="127.0.0.1:%d" % port))
                elif words[0] == "curl":
                    r = subprocess.run(["curl", "-sS", "--max-time", "10"] +
                                       [local(w) for w in words[1:]], cwd=work,
                                       capture_output=True, text=True, timeout=30)
                    self.assertEqual(r.returncode, 0, command + ": " + r.stderr)
                    msg = re.search(r"msg=([\w-]+)", command).group(1)
                    self.assertIn('{"echo":"%s"}' % msg, r.stdout)
                elif words[:2] == ["kill", "-HUP"]:
                    self.assertEqual(words[2], "%1")  # the first job: A
                    self.assertIsNotNone(renewed)
                    self.assertNotEqual(served_certificate(), renewed)
                    services[0].send(signal.SIGHUP)
                    services[0].wait_log(r"event=reload status=ok")
                    self.assertEqual(served_certificate(), renewed)
                else:
                    self.fail("a command this test does not know: " + command)
        self.assertEqual(len(services), 2)
        self.assertIsNotNone(renewed)

    def test_make_certs_names_and_group(self):
        """deploy.md's form: extra names in the server certificates, keys 0640 of a group."""
        work = tempfile.mkdtemp(prefix="echosvc-make-certs-")
        self.addCleanup(shutil.rmtree, work, True)
        group = grp.getgrgid(os.getegid()).gr_name
        r = subprocess.run([os.path.join(ROOT, "deploy", "tls", "make-certs"), "-d", work, "-g",
                            group, "echosvc-a.example", "10.0.0.5"],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        text = subprocess.run(["openssl", "x509", "-in", os.path.join(work, "a.pem"), "-noout",
                               "-ext", "subjectAltName"], capture_output=True, text=True,
                              timeout=30).stdout
        for name in ("DNS:localhost", "IP Address:127.0.0.1", "DNS:echosvc-a.example",
                     "IP Address:10.0.0.5"):
            self.assertIn(name, text)
        for key in ("a.key", "b.key", "client.key"):
            st = os.stat(os.path.join(work, key))
            self.assertEqual((st.st_mode & 0o777, st.st_gid), (0o640, os.getegid()), key)
        self.assertEqual(os.stat(os.path.join(work, "ca.key")).st_mode & 0o777, 0o600)
        r = subprocess.run(["openssl", "verify", "-CAfile", os.path.join(work, "ca.pem")] +
                           [os.path.join(work, f) for f in ("a.pem", "b.pem", "client.pem")],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)


if __name__ == "__main__":
    main()
