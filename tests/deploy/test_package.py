"""The Debian package as a user installs it, under a real systemd: `dpkg-buildpackage -b` in a
clean Debian container of the release (lintian: no error, no warning), then `apt-get install
./echosvc_*.deb` into a container of the same release running systemd as PID 1, where both
units reach `active` through READY=1 with a STATUS= line, B answers through A over TLS,
`systemctl reload` serves renewed certificates to new handshakes, a killed service is
restarted, `systemctl stop` drains (status 0, event=shutdown in the journal), and
`systemd-analyze security` rates each unit at most 2.0.

    test_package.py bookworm|trixie

Needs root, podman and debootstrap (CI installs them) and Debian's archive; skips, saying
why, elsewhere. The images come from deploy/container/make-base-image."""
import os
import re
import secrets
import shutil
import ssl
import socket
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import capability  # noqa: E402
from harness import main, request  # noqa: E402
from podman_run import Podman  # noqa: E402

SUITE = sys.argv.pop(1) if len(sys.argv) > 1 and not sys.argv[1].startswith("-") else "bookworm"
MAKE_IMAGE = os.path.join(ROOT, "deploy", "container", "make-base-image")
MAKE_CERTS = os.path.join(ROOT, "deploy", "tls", "make-certs")


def why_not():
    if shutil.which("debootstrap") is None:
        return "debootstrap is not installed"
    if shutil.which("openssl") is None:
        return "openssl is not installed"
    return capability.podman()


def der(path):
    with open(path) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


def source_files():
    """The files of the source tree a fresh clone has (no build directories)."""
    r = subprocess.run(["git", "-C", ROOT, "ls-files", "-co", "--exclude-standard"],
                       capture_output=True, text=True, timeout=60)
    if r.returncode == 0:
        return [f for f in r.stdout.splitlines() if os.path.isfile(os.path.join(ROOT, f))]
    skip = ("build", ".git", "ci-debian13", "tests/bench/out")
    files = []
    for d, dirs, names in os.walk(ROOT):
        rel = os.path.relpath(d, ROOT)
        dirs[:] = [x for x in dirs if not os.path.join(rel, x).lstrip("./").startswith(skip)]
        files += [os.path.normpath(os.path.join(rel, n)) for n in names]
    return files


@unittest.skipIf(why_not() is not None, why_not() or "")
class Package(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.workdir = tempfile.mkdtemp(prefix="echosvc-package-")
        cls.podman = Podman(cls.workdir)
        for flags in ([], ["-s"]):
            cls.podman.run([MAKE_IMAGE] + flags + [SUITE], timeout=900)
        cls.deb, cls.lintian = cls.build_package()

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.workdir, ignore_errors=True)

    @classmethod
    def build_package(cls):
        """dpkg-buildpackage -us -uc -b in a clean container of the release, with the
        build dependencies debian/control names; lintian on the result."""
        src = os.path.join(cls.workdir, "src", "echosvc")
        for f in source_files():
            os.makedirs(os.path.dirname(os.path.join(src, f)), exist_ok=True)
            shutil.copy2(os.path.join(ROOT, f), os.path.join(src, f))
        out = os.path.join(cls.workdir, "out")
        os.mkdir(out)
        script = ("set -e; export DEBIAN_FRONTEND=noninteractive; apt-get update -qq; "
                  "cp -a /src/echosvc /build; cd /build; "
                  "apt-get build-dep -y -qq --no-install-recommends ./ >/dev/null; "
                  "apt-get install -y -qq --no-install-recommends lintian >/dev/null; "
                  "dpkg-buildpackage -us -uc -b >/out/build.log 2>&1 || "
                  "{ tail -40 /out/build.log; exit 1; }; "
                  "cp ../echosvc_*.deb /out/; "
                  "lintian -I --pedantic --tag-display-limit 0 ../echosvc_*.changes "
                  ">/out/lintian.txt 2>&1; "
                  "echo $? >/out/lintian.rc; lintian --version >/out/lintian.version")
        started = time.monotonic()
        cls.podman("run", "--rm", "--network", "host", "-v", "%s:/src:ro" % os.path.dirname(src),
                   "-v", "%s:/out" % out, "debian:%s-slim" % SUITE, "bash", "-c", script,
                   timeout=1200)
        print("%s: package built in %.0f s" % (SUITE, time.monotonic() - started))
        debs = [f for f in os.listdir(out) if re.match(r"echosvc_[^_]+_\w+\.deb$", f)]
        assert len(debs) == 1, os.listdir(out)
        lintian = {}
        for name in ("txt", "rc", "version"):
            with open(os.path.join(out, "lintian." + name)) as f:
                lintian[name] = f.read().strip()
        return os.path.join(out, debs[0]), lintian

    def test_lintian_reports_no_error_and_no_warning(self):
        print("%s: %s: %s" % (SUITE, self.lintian["version"], self.lintian["txt"] or "(nothing)"))
        self.assertRegex(self.lintian["version"], r"^Lintian v\d")
        tags = [line for line in self.lintian["txt"].splitlines() if re.match(r"^[EW]: ", line)]
        self.assertEqual(tags, [])
        self.assertEqual(self.lintian["rc"], "0")

    def exec(self, *args, check=True, timeout=120):
        return self.podman("exec", self.name, *args, check=check, timeout=timeout)

    def show(self, unit, prop):
        return self.exec("systemctl", "show", "-p", prop, "--value", unit).stdout.strip()

    def wait_for(self, what, check, timeout=30.0):
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                self.fail(what)
            time.sleep(0.2)

    def copy_in(self, path, target):
        self.podman("cp", path, "%s:%s" % (self.name, target))

    def served_certificate(self, address):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        with socket.create_connection((address, 8080), timeout=10) as s:
            with ctx.wrap_socket(s) as tls:
                return tls.getpeercert(binary_form=True)

    def test_units_under_systemd(self):
        self.name = "echosvc-systemd-%s-%s" % (SUITE, secrets.token_hex(3))
        self.podman("run", "-d", "--systemd=always", "--name", self.name,
                    "localhost/echosvc-systemd:%s" % SUITE, "/sbin/init")
        self.addCleanup(self.podman, "rm", "-f", "-t", "0", self.name, check=False)
        self.wait_for("systemd never came up", lambda: self.exec(
            "systemctl", "is-system-running", check=False).stdout.strip() in
            ("running", "degraded"), 60)
        address = self.podman("inspect", "--format",
                              "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
                              self.name).stdout.strip()
        # the user's command, the dependencies from Debian's archive
        self.copy_in(self.deb, "/root/")
        self.exec("apt-get", "update", "-qq", timeout=300)
        self.exec("sh", "-c", "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "
                  "/root/%s" % os.path.basename(self.deb), timeout=600)
        for unit in ("echosvc-a", "echosvc-b"):
            # installed, not enabled, not started (docs/deploy.md)
            self.assertEqual(self.show(unit, "UnitFileState"), "disabled")
            self.assertEqual(self.show(unit, "ActiveState"), "inactive")
        self.assertIn("echosvc:", self.exec("getent", "passwd", "echosvc").stdout)

        # TLS files from the documented script, keys readable by the group the units have
        pki = os.path.join(self.workdir, "pki-" + self.name)
        self.podman.run([MAKE_CERTS, "-d", pki, "localhost"])
        self.exec("mkdir", "-p", "/etc/echosvc")
        for f in ("ca.pem", "a.pem", "a.key"):
            self.copy_in(os.path.join(pki, f), "/etc/echosvc/" + f)
        self.exec("sh", "-c", "chgrp echosvc /etc/echosvc/a.key && chmod 0640 /etc/echosvc/a.key"
                  " && chmod 0644 /etc/echosvc/a.pem /etc/echosvc/ca.pem")
        # options through /etc/default, no drop-in
        self.exec("sh", "-c", "printf '%s' > /etc/default/echosvc-a && printf '%s' > "
                  "/etc/default/echosvc-b" % (
                      "ECHOSVC_LISTEN=0.0.0.0:8080\\nECHOSVC_TLS_CERT=/etc/echosvc/a.pem\\n"
                      "ECHOSVC_TLS_KEY=/etc/echosvc/a.key\\n",
                      "ECHOSVC_LISTEN=0.0.0.0:8081\\nECHOSVC_SERVICE_A=https://localhost:8080\\n"
                      "ECHOSVC_SERVICE_A_CA=/etc/echosvc/ca.pem\\n"))
        r = self.exec("systemctl", "start", "echosvc-a", "echosvc-b", check=False)
        self.assertEqual(r.returncode, 0, r.stderr + self.exec(
            "journalctl", "--no-pager", "-n", "40", "-u", "echosvc-a", "-u", "echosvc-b").stdout)
        for unit, port in (("echosvc-a", 8080), ("echosvc-b", 8081)):
            # Type=notify: start returns once READY=1 came
            self.assertEqual(self.show(unit, "ActiveState"), "active", self.exec(
                "journalctl", "-u", unit, "--no-pager", check=False).stdout)
            self.assertEqual(self.show(unit, "StatusText"), "serving on 0.0.0.0:%d" % port)
            self.assertRegex(self.exec("systemctl", "status", "--no-pager", unit,
                                       check=False).stdout,
                             r"Status: \"serving on 0\.0\.0\.0:%d\"" % port)
        status, _, body = request(8081, "/call-echo?msg=packaged", host=address)
        self.assertEqual((status, body),
                         (200, b'{"service_a":{"echo":"packaged"},"service_b":"ok"}\n'))

        # renewed certificates, the same paths, a reload: new handshakes get them
        old = self.served_certificate(address)
        self.assertEqual(old, der(os.path.join(pki, "a.pem")))
        self.podman.run([MAKE_CERTS, "-d", pki, "localhost"])
        new = der(os.path.join(pki, "a.pem"))
        self.assertNotEqual(new, old)
        for f in ("a.pem", "a.key"):
            self.copy_in(os.path.join(pki, f), "/etc/echosvc/" + f)
        self.exec("sh", "-c", "chgrp echosvc /etc/echosvc/a.key && chmod 0640 /etc/echosvc/a.key")
        main_pid = self.show("echosvc-a", "MainPID")
        self.exec("systemctl", "reload", "echosvc-a")
        self.wait_for("no event=reload status=ok in the journal", lambda: "event=reload status=ok"
                      in self.exec("journalctl", "-u", "echosvc-a", "--no-pager").stdout)
        self.assertEqual(self.served_certificate(address), new)
        self.assertEqual(self.show("echosvc-a", "MainPID"), main_pid)  # no restart

        # a killed A comes back (Restart=on-failure), and B reaches it again
        self.exec("systemctl", "kill", "-s", "SIGKILL", "echosvc-a")
        self.wait_for("echosvc-a was not restarted", lambda: self.show(
            "echosvc-a", "NRestarts") == "1" and self.show("echosvc-a", "ActiveState") == "active")
        self.assertNotEqual(self.show("echosvc-a", "MainPID"), main_pid)
        self.wait_for("B never reached the restarted A", lambda: request(
            8081, "/call-echo?msg=again", host=address)[0] == 200)

        # systemctl stop: SIGTERM, a drain, exit status 0
        self.exec("systemctl", "stop", "echosvc-b", timeout=60)
        self.assertEqual(self.show("echosvc-b", "ActiveState"), "inactive")
        self.assertEqual(self.show("echosvc-b", "ExecMainStatus"), "0")
        self.assertEqual(self.show("echosvc-b", "Result"), "success")
        journal = self.exec("journalctl", "-u", "echosvc-b", "--no-pager").stdout
        self.assertIn("event=shutdown", journal)

        for unit in ("echosvc-a", "echosvc-b"):
            out = self.exec("systemd-analyze", "security", "--no-pager", unit).stdout
            m = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", out)
            self.assertIsNotNone(m, out)
            print("%s: %s exposure %s" % (SUITE, unit, m.group(1)))
            self.assertLessEqual(float(m.group(1)), 2.0)


if __name__ == "__main__":
    main()
