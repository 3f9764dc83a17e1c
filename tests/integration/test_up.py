"""echosvc up: both services as children, a banner, signals passed on, A's death survived."""
import os
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
from harness import TestCase, free_port, main, request  # noqa: E402


class Up(TestCase):
    def test_up_starts_both_and_stops_both(self):
        pa, pb = free_port(), free_port()
        up = self.start("up", "--listen-a", "127.0.0.1:%d" % pa, "--listen-b",
                        "127.0.0.1:%d" % pb, listen=None, wait=False)
        up.wait_log(r"service=A event=listening addr=127.0.0.1:%d" % pa)
        up.wait_log(r"service=B event=listening addr=127.0.0.1:%d" % pb)
        status, _, body = request(pb, "/call-echo?msg=hello")
        self.assertEqual((status, body), (200, b'{"service_a":{"echo":"hello"},"service_b":"ok"}\n'))
        children = subprocess.run(["pgrep", "-P", str(up.proc.pid)], capture_output=True)
        pids = [int(p) for p in children.stdout.split()]
        self.assertEqual(len(pids), 2)
        up.send(signal.SIGINT)
        self.assertEqual(up.proc.wait(15), 0)
        banner = up.proc.stdout.read().decode()
        self.assertIn("http://127.0.0.1:%d" % pa, banner)
        self.assertIn('curl "http://127.0.0.1:%d/call-echo?msg=hello"' % pb, banner)
        for pid in pids:
            self.assertFalse(os.path.exists("/proc/%d" % pid) and
                             open("/proc/%d/stat" % pid).read().split()[2] != "Z")
        self.assertEqual(len([l for l in up.log_lines() if "event=shutdown" in l]), 2)

    def test_a_dies_b_keeps_answering(self):
        pa, pb = free_port(), free_port()
        up = self.start("up", "--listen-a", "127.0.0.1:%d" % pa, "--listen-b",
                        "127.0.0.1:%d" % pb, listen=None, wait=False)
        up.wait_log(r"service=B event=listening")
        up.wait_log(r"service=A event=listening")
        a_pid = int(subprocess.run(["pgrep", "-P", str(up.proc.pid), "-f", "serve-a"],
                                   capture_output=True).stdout.split()[0])
        os.kill(a_pid, signal.SIGKILL)
        up.wait_log(r"event=exited_a")
        status, _, body = request(pb, "/call-echo?msg=hello")
        self.assertEqual(status, 503)
        self.assertIn(b"connection refused", body)
        self.assertIsNone(up.proc.poll())  # up keeps B running, never restarts A
        up.send(signal.SIGTERM)
        self.assertEqual(up.proc.wait(15), 1)  # A did not exit cleanly

    def test_up_usage(self):
        r = subprocess.run([os.environ.get("ECHOSVC_BIN"), "up", "--listen-a", "127.0.0.1:0"],
                           capture_output=True, timeout=10)
        self.assertEqual(r.returncode, 2)
        self.assertIn(b"--listen-a", r.stderr)


if __name__ == "__main__":
    main()
