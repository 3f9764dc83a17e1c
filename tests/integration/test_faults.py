"""Fault injection: seeded decisions that repeat, delays that hold no thread, B's own errors."""
import http.client
import json
import os
import resource
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import TIME_SCALE, TestCase, main, metric, request  # noqa: E402

MASK = (1 << 64) - 1


def fault_plan(seed, count, error_rate=0.0, delay_rate=1.0, delay_on=False):
    """The documented decisions (docs/operations.md): splitmix64 from the seed,
    two draws per main-route request, the delay's then the error's."""
    state = seed

    def draw():
        nonlocal state
        state = (state + 0x9E3779B97F4A7C15) & MASK
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        z ^= z >> 31
        return (z >> 11) * 2.0 ** -53

    plan = []
    for _ in range(count):
        delay, error = draw(), draw()
        plan.append((delay_on and delay < delay_rate, error < error_rate))
    return plan


class Faults(TestCase):
    def sequential(self, port, path, count):
        """count requests one after another on one keep-alive connection."""
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30 * TIME_SCALE)
        answers = []
        try:
            for i in range(count):
                conn.request("GET", path % i)
                r = conn.getresponse()
                answers.append((r.status, r.read()))
        finally:
            conn.close()
        return answers

    def test_seeded_errors_repeat_exactly_and_are_counted(self):
        plan = [error for _, error in fault_plan(7, 300, error_rate=0.3)]
        for run in range(2):  # the same fates at every start
            a = self.start("serve-a", "--threads", "1", "--fault-error-rate", "0.3",
                           "--fault-seed", "7")
            answers = self.sequential(a.port, "/echo?msg=m%d", 300)
            got = [status == 500 for status, _ in answers]
            self.assertEqual(got, plan, "run %d" % run)
            for (status, body), error in zip(answers, plan):
                if error:
                    self.assertEqual(json.loads(body), {"error": "injected fault"})
                else:
                    self.assertEqual(status, 200)
            self.assertEqual(metric(a.port, 'echosvc_faults_injected_total{kind="error"}'), sum(plan))
            self.assertEqual(metric(a.port, 'echosvc_faults_injected_total{kind="delay"}'), 0)
            self.assertEqual(metric(a.port, 'echosvc_requests_total{handler="/echo",code="500"}'), sum(plan))
            a.wait_log(r"endpoint=/echo status=error error=\"injected fault\" .* code=500 .* fault=error$",
                       count=sum(plan))
            self.assertTrue(80 <= sum(plan) <= 100, sum(plan))  # the rate holds
            a.stop()

    def test_other_routes_are_never_faulted(self):
        a = self.start("serve-a", "--fault-error-rate", "1", "--fault-error-code", "418",
                       "--fault-delay-ms", str(int(5000 * TIME_SCALE)))
        for path, want in (("/health", 200), ("/readyz", 200), ("/metrics", 200), ("/nope", 404)):
            for _ in range(20):
                started = time.monotonic()
                self.assertEqual(request(a.port, path)[0], want, path)
                self.assertLess(time.monotonic() - started, 1.0 * TIME_SCALE, path)
        # the injected code is any 400-599, counted under its own code label
        self.assertEqual(request(a.port, "/echo?msg=x", timeout=30 * TIME_SCALE)[0], 418)
        self.assertEqual(metric(a.port, 'echosvc_requests_total{handler="/echo",code="418"}'), 1)

    def test_delays_follow_the_seed_and_combine_with_errors(self):
        delay_ms = 150
        plan = fault_plan(11, 40, error_rate=0.25, delay_rate=0.5, delay_on=True)
        a = self.start("serve-a", "--threads", "1", "--fault-seed", "11", "--fault-error-rate",
                       "0.25", "--fault-delay-ms", str(delay_ms), "--fault-delay-rate", "0.5")
        conn = http.client.HTTPConnection("127.0.0.1", a.port, timeout=30 * TIME_SCALE)
        try:
            for i, (delay, error) in enumerate(plan):
                started = time.monotonic()
                conn.request("GET", "/echo?msg=d%d" % i)
                r = conn.getresponse()
                r.read()
                elapsed = time.monotonic() - started
                self.assertEqual(r.status, 500 if error else 200, i)
                if delay:
                    self.assertGreaterEqual(elapsed, delay_ms / 1000.0 - 0.005, i)
        finally:
            conn.close()
        # a line is written when its loop next waits, which may come after the
        # client has read the answer
        a.wait_log(r"endpoint=/echo ", 5 * TIME_SCALE, count=len(plan))
        lines = a.request_lines("/echo")
        want = ["delay,error" if d and e else "delay" if d else "error" if e else None
                for d, e in plan]
        self.assertEqual([m.group("fault") for m in lines], want)
        for m, (delay, _) in zip(lines, plan):
            if delay:
                self.assertGreaterEqual(int(m.group("latency")), delay_ms - 1)
        self.assertEqual(metric(a.port, 'echosvc_faults_injected_total{kind="delay"}'),
                         sum(d for d, _ in plan))

    def test_a_thousand_delayed_requests_hold_no_thread(self):
        count = 1000
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < count + 100:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
        delay_ms = int(3000 * TIME_SCALE)
        a = self.start("serve-a", "--threads", "1", "--fault-delay-ms", str(delay_ms),
                       "--max-connections", "2048")
        threads_before = len(os.listdir("/proc/%d/task" % a.proc.pid))
        socks = []
        try:
            started = time.monotonic()
            for i in range(count):
                s = socket.create_connection(("127.0.0.1", a.port), timeout=30 * TIME_SCALE)
                s.sendall(b"GET /echo?msg=p%d HTTP/1.1\r\nHost: x\r\n\r\n" % i)
                socks.append(s)
            deadline = time.monotonic() + 10 * TIME_SCALE
            while metric(a.port, "echosvc_requests_in_progress") < count + 1:
                self.assertLess(time.monotonic(), deadline)
            # all parked on one loop thread: /health still answers at once
            for _ in range(10):
                t = time.monotonic()
                self.assertEqual(request(a.port, "/health")[0], 200)
                self.assertLess(time.monotonic() - t, 0.5 * TIME_SCALE)
            self.assertEqual(len(os.listdir("/proc/%d/task" % a.proc.pid)), threads_before)
            self.assertLess(time.monotonic() - started, delay_ms / 1000.0,
                            "the delays ran out before the check: the machine is too slow")
            for i, s in enumerate(socks):
                data = b""
                while b"\r\n\r\n" not in data or not data.endswith(b"}\n"):
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                self.assertTrue(data.startswith(b"HTTP/1.1 200"), data[:80])
                self.assertIn(b'{"echo":"p%d"}' % i, data)
            self.assertGreaterEqual(time.monotonic() - started, delay_ms / 1000.0)
        finally:
            for s in socks:
                s.close()
        self.assertEqual(metric(a.port, 'echosvc_faults_injected_total{kind="delay"}'), count)

    def test_b_injected_error_does_not_call_a(self):
        a = self.start("serve-a")
        b = self.start("serve-b", "--service-a", a.base, "--fault-error-rate", "1",
                       "--fault-error-code", "503")
        for i in range(5):
            status, headers, body = request(b.port, "/call-echo?msg=x%d" % i)
            self.assertEqual(status, 503)
            self.assertEqual(json.loads(body), {"error": "injected fault"})
            self.assertTrue(headers["x-request-id"])
        self.assertEqual(request(b.port, "/health")[0], 200)
        self.assertEqual(metric(a.port, 'echosvc_requests_total{handler="/echo"}'), 0)
        self.assertEqual(metric(b.port, "echosvc_upstream_requests_total"), 0)
        self.assertEqual(metric(b.port, 'echosvc_faults_injected_total{kind="error"}'), 5)
        b.wait_log(r"endpoint=/call-echo .* code=503 .* fault=error$", count=5)
        self.assertEqual(a.request_lines("/echo"), [])

    def test_b_delay_comes_before_the_call(self):
        a = self.start("serve-a")
        b = self.start("serve-b", "--service-a", a.base, "--fault-delay-ms", "300")
        started = time.monotonic()
        status, _, body = request(b.port, "/call-echo?msg=late", timeout=30 * TIME_SCALE)
        self.assertEqual((status, json.loads(body)["service_a"]), (200, {"echo": "late"}))
        self.assertGreaterEqual(time.monotonic() - started, 0.3)
        line = b.wait_log(r"endpoint=/call-echo .* fault=delay$")
        self.assertIn("replica=%s attempts=1" % a.base, line)
        # A answered at once: the delay was B's, before it called A
        a.wait_log(r"endpoint=/echo ", 5 * TIME_SCALE)
        self.assertLess(int(a.request_lines("/echo")[0].group("latency")), 300)

    def test_a_injected_500_is_502_on_b_and_opens_the_breaker(self):
        a = self.start("serve-a", "--fault-error-rate", "1")
        b = self.start("serve-b", "--service-a", a.base, "--breaker-failures", "3",
                       "--breaker-open-ms", "60000")
        for _ in range(3):
            status, _, body = request(b.port, "/call-echo?msg=x")
            self.assertEqual(status, 502)
            self.assertTrue(json.loads(body)["error"].endswith(": HTTP 500"))
        status, _, body = request(b.port, "/call-echo?msg=x")
        self.assertEqual(status, 503)
        self.assertTrue(json.loads(body)["error"].endswith(": circuit open"))
        self.assertEqual(metric(b.port, 'echosvc_upstream_requests_total{outcome="bad_response"}'), 3)
        self.assertEqual(metric(b.port, 'echosvc_circuit_open{replica="%s"}' % a.base), 1)

    def test_drain_releases_delayed_requests(self):
        drain_ms = 500
        a = self.start("serve-a", "--fault-delay-ms", "600000", "--drain-ms", str(drain_ms))
        s = socket.create_connection(("127.0.0.1", a.port), timeout=30 * TIME_SCALE)
        try:
            s.sendall(b"GET /echo?msg=parked HTTP/1.1\r\nHost: x\r\n\r\n")
            deadline = time.monotonic() + 10 * TIME_SCALE
            while metric(a.port, "echosvc_requests_in_progress") < 2:
                self.assertLess(time.monotonic(), deadline)
            started = time.monotonic()
            a.send(signal.SIGTERM)
            data = b""
            while not data.endswith(b"}\n"):
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            self.assertTrue(data.startswith(b"HTTP/1.1 200"), data)
            self.assertIn(b'{"echo":"parked"}', data)
            self.assertGreaterEqual(time.monotonic() - started, drain_ms / 1000.0 - 0.05)
        finally:
            s.close()
        self.assertEqual(a.proc.wait(10 * TIME_SCALE), 0)


if __name__ == "__main__":
    main()
