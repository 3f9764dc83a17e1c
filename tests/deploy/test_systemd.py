"""The systemd units: `systemd-analyze verify` passes and `systemd-analyze security`
rates each at most 2.0; the stop timeout covers the drain; a unit's options parse."""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
import capability  # noqa: E402
from harness import BIN, main  # noqa: E402

UNITS = os.environ.get("ECHOSVC_UNITS", "build/deploy")


def unit_fields(text):
    fields = {}
    for line in text.splitlines():
        m = re.match(r"^(\w+)=(.*)$", line)
        if m:
            fields.setdefault(m.group(1), []).append(m.group(2))
    return fields


@unittest.skipIf(capability.systemd_analyze() is not None, capability.systemd_analyze() or "")
class Units(unittest.TestCase):
    def setUp(self):
        # the unit as installed, but with ExecStart at the binary under test
        self.dir = tempfile.mkdtemp(prefix="echosvc-units-")
        self.addCleanup(shutil.rmtree, self.dir)
        self.units = {}
        for role in ("a", "b"):
            with open(os.path.join(UNITS, "echosvc-%s.service" % role)) as f:
                text = f.read()
            self.assertRegex(text, r"(?m)^ExecStart=/\S+/echosvc serve-%s$" % role)
            text = re.sub(r"(?m)^ExecStart=\S+", "ExecStart=" + os.path.abspath(BIN), text)
            path = os.path.join(self.dir, "echosvc-%s.service" % role)
            with open(path, "w") as f:
                f.write(text)
            self.units[role] = (path, text)

    def test_verify(self):
        for role, (path, _) in self.units.items():
            r = subprocess.run(["systemd-analyze", "verify", "--man=no", path], capture_output=True,
                               text=True, timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertNotIn("echosvc", r.stderr)  # no warning about our unit

    def test_security_exposure_at_most_2(self):
        for role, (path, _) in self.units.items():
            r = subprocess.run(["systemd-analyze", "security", "--offline=true", path],
                               capture_output=True, text=True, timeout=60)
            m = re.search(r"Overall exposure level for \S+: (\d+\.\d+) (\S+)", r.stdout)
            self.assertIsNotNone(m, r.stdout + r.stderr)
            print("%s: exposure %s %s" % (role, m.group(1), m.group(2)))
            self.assertLessEqual(float(m.group(1)), 2.0, r.stdout)

    def test_notify_and_stop_timeout_cover_the_drain(self):
        for role, (_, text) in self.units.items():
            f = unit_fields(text)
            self.assertEqual(f["Type"], ["notify"])
            self.assertEqual(f["DynamicUser"], ["yes"])
            env = dict(e.split("=", 1) for e in f["Environment"])
            drain = int(env.get("ECHOSVC_DRAIN_MS", "5000"))
            delay = int(env.get("ECHOSVC_SHUTDOWN_DELAY_MS", "0"))
            self.assertGreater(int(f["TimeoutStopSec"][0]) * 1000, drain + delay)
            # every variable is one echosvc knows: it starts and checks its config
            r = subprocess.run([BIN, "serve-" + role, "--check-config"], env=env,
                               capture_output=True, text=True, timeout=10)
            self.assertEqual(r.returncode, 0, r.stderr)
            for name in env:
                option = name[len("ECHOSVC_"):].lower().replace("_", "-")
                self.assertRegex(r.stdout, r"(?m)^%s = .* \(environment %s\)$" % (option, name))


if __name__ == "__main__":
    main()
