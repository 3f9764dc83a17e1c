"""echosvc up: both services as children, a banner, signals passed on, A's death survived."""
import json
import os
import signal
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
from harness import BIN, TIME_SCALE, TestCase, free_port, main, request  # noqa: E402


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

    def check_child_fails(self, taken_role):
        taken = socket.socket()
        self.addCleanup(taken.close)
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        ports = {"A": free_port(), "B": free_port()}
        ports[taken_role] = taken.getsockname()[1]
        other = "B" if taken_role == "A" else "A"
        up = self.start("up", "--listen-a", "127.0.0.1:%d" % ports["A"], "--listen-b",
                        "127.0.0.1:%d" % ports["B"], listen=None, wait=False)
        self.assertEqual(up.proc.wait(30 * TIME_SCALE), 1)
        errors = [l for l in up.log_lines() if "service=up event=error" in l]
        self.assertEqual(errors, ['%s service=up event=error error="service %s did not start: '
                                  'it exited with status 1"' % (errors[0][:19], taken_role)]
                         if errors else ["one line"])
        # never half up: the other child was stopped, nothing listens there
        with self.assertRaises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", ports[other]), timeout=5).close()
        self.assertEqual(up.proc.stdout.read(), b"")  # no banner for a service that is not up

    def test_a_port_taken_stops_b_and_exits_1(self):
        self.check_child_fails("A")

    def test_b_port_taken_stops_a_and_exits_1(self):
        self.check_child_fails("B")

    def test_up_follows_log_format(self):
        pa, pb = free_port(), free_port()
        up = self.start("up", "--listen-a", "127.0.0.1:%d" % pa, "--listen-b",
                        "127.0.0.1:%d" % pb, "--log-format", "json", listen=None, wait=False)
        up.wait_log(r'"service":"B","event":"listening"')
        up.wait_log(r'"service":"A","event":"listening"')
        line = up.wait_log(r'"service":"up","event":"up"')
        self.assertEqual((json.loads(line)["a"], json.loads(line)["b"]),
                         ("http://127.0.0.1:%d" % pa, "http://127.0.0.1:%d" % pb))
        up.send(signal.SIGTERM)
        self.assertEqual(up.proc.wait(15), 0)
        self.assertEqual(up.proc.stdout.read(), b"")  # no text banner in a JSON log
        exited = [json.loads(l) for l in up.log_lines() if '"service":"up"' in l]
        self.assertEqual([d["event"] for d in exited][0], "up")
        self.assertEqual(sorted(d["event"] for d in exited[1:]), ["exited_a", "exited_b"])
        for doc in exited[1:]:
            self.assertEqual(doc["status"], "0")

    def test_up_usage(self):
        r = subprocess.run([BIN, "up", "--listen-a", "127.0.0.1:0"],
                           capture_output=True, timeout=10)
        self.assertEqual(r.returncode, 2)
        self.assertIn(b"--listen-a", r.stderr)


if __name__ == "__main__":
    main()
