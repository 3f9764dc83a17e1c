"""Resilient B: resets, hangs, drips, huge answers, replicas, breakers, load shedding, slow clients."""
import json
import os
import re
import resource
import signal
import socket
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(__file__))
from harness import (TIME_SCALE, TestCase, main, metric, park_requests, peak_rss_kib,  # noqa: E402
                     request)


def raise_fd_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def report(text, *args):
    """A measured figure, for the closing notes; meson keeps it in the test log."""
    sys.stderr.write("measured: " + (text % args) + "\n")


def timed_health(port, n=20):
    times = []
    for _ in range(n):
        started = time.monotonic()
        status, _, body = request(port, "/health", timeout=5)
        times.append(time.monotonic() - started)
        assert (status, body) == (200, b'{"status":"ok"}\n'), (status, body)
    return times


class Resilience(TestCase):
    def fail_case(self, mode, want_status, cause_pattern, timeout_ms=1000, extra=()):
        fake = self.fake(mode)
        b = self.start("serve-b", "--service-a", fake.base, "--timeout-ms", str(timeout_ms),
                       *extra)
        started = time.monotonic()
        status, _, body = request(b.port, "/call-echo?msg=x", timeout=15)
        elapsed = time.monotonic() - started
        doc = json.loads(body)
        self.assertEqual(status, want_status, body)
        self.assertRegex(doc["error"], r'^Get "%s/echo\?msg=x": %s$' % (re.escape(fake.base),
                                                                        cause_pattern))
        self.assertEqual((doc["service_a"], doc["service_b"]), ("unavailable", "ok"))
        return b, fake, elapsed

    def test_reset_is_503_and_retried(self):
        b, fake, elapsed = self.fail_case("reset", 503, "connection reset")
        report("reset: 503 after %d attempts in %.1f ms", len(fake.requests), elapsed * 1000)
        self.assertEqual(len(fake.requests), 2)  # one retry (--retries 1)
        # counted per attempt, by replica
        self.assertEqual(metric(b.port, 'echosvc_upstream_requests_total{replica="%s",outcome="refused"}' % fake.base), 2)

    def test_hang_is_504_within_timeout(self):
        _, fake, elapsed = self.fail_case("never", 504, "timeout after 1000 ms")
        report("hang: 504 after %.0f ms (--timeout-ms 1000)", elapsed * 1000)
        self.assertLess(elapsed, 1.0 + 0.5 * TIME_SCALE)
        self.assertEqual(len(fake.requests), 1)  # a timeout is never retried

    def test_drip_is_504_within_timeout(self):
        _, _, elapsed = self.fail_case("drip", 504, "timeout after 1000 ms")
        report("drip: 504 after %.0f ms (--timeout-ms 1000)", elapsed * 1000)
        self.assertLess(elapsed, 1.0 + 0.5 * TIME_SCALE)

    def test_huge_answer_is_502_fast_and_bounded(self):
        for mode in ("huge", "huge-chunked"):
            b, _, elapsed = self.fail_case(mode, 502, "answer larger than 65536 bytes")
            self.assertLess(elapsed, 2.0 * TIME_SCALE, mode)
            self.assertLess(peak_rss_kib(b.proc.pid), 64 * 1024, mode)
            report("10 MiB answer (%s): 502 after %.0f ms, B peak RSS %d KiB", mode,
                   elapsed * 1000, peak_rss_kib(b.proc.pid))

    def test_name_not_resolved_is_503(self):
        b = self.start("serve-b", "--service-a", "http://no-such-host.invalid:1")
        status, _, body = request(b.port, "/call-echo?msg=x", timeout=15)
        self.assertEqual(status, 503)
        self.assertIn("name did not resolve", json.loads(body)["error"])

    def test_connect_timeout_is_503(self):
        # A listener whose accept queue is full drops new SYNs: connect never completes.
        full = socket.socket()
        full.bind(("127.0.0.1", 0))
        full.listen(0)
        port = full.getsockname()[1]
        fillers = []
        try:
            for _ in range(16):  # fill the queue until a connect is no longer answered
                f = socket.socket()
                fillers.append(f)
                f.settimeout(0.3)
                try:
                    f.connect(("127.0.0.1", port))
                except socket.timeout:
                    break
            else:
                self.skipTest("this kernel never dropped a SYN")
            b = self.start("serve-b", "--service-a", "http://127.0.0.1:%d" % port,
                           "--connect-timeout-ms", "200", "--retries", "1")
            started = time.monotonic()
            status, _, body = request(b.port, "/call-echo?msg=x", timeout=15)
            elapsed = time.monotonic() - started
        finally:
            for f in fillers:
                f.close()
            full.close()
        self.assertEqual(status, 503, body)
        self.assertEqual(json.loads(body)["error"],
                         'Get "http://127.0.0.1:%d/echo?msg=x": connect timeout after 200 ms' % port)
        self.assertLess(elapsed, 1.5 * TIME_SCALE)  # two attempts of 200 ms

    def test_replicas_share_and_survive_one_death(self):
        replicas = [self.start("serve-a") for _ in range(3)]
        b = self.start("serve-b", "--service-a", ",".join(r.base for r in replicas))
        self.assertEqual(replicas[1].stop(), 0)
        with ThreadPoolExecutor(max_workers=10) as pool:
            results = list(pool.map(lambda i: request(b.port, "/call-echo?msg=r%d" % i),
                                    range(300)))
        self.assertEqual([r[0] for r in results], [200] * 300)
        served = [metric(replicas[i].port, 'echosvc_requests_total{handler="/echo",code="200"}')
                  for i in (0, 2)]
        self.assertEqual(sum(served), 300)
        for n in served:
            self.assertGreater(n, 100, served)  # round-robin between the two left
        report("3 replicas, one dead: 300/300 answered 200, the two alive served %s", served)

    def test_round_robin_over_healthy_replicas(self):
        replicas = [self.start("serve-a") for _ in range(3)]
        b = self.start("serve-b", "--service-a", ",".join(r.base for r in replicas))
        for i in range(30):
            self.assertEqual(request(b.port, "/call-echo?msg=%d" % i)[0], 200)
        self.assertEqual([metric(r.port, 'echosvc_requests_total{handler="/echo",code="200"}')
                          for r in replicas], [10, 10, 10])

    def test_breaker_opens_fails_fast_and_recovers(self):
        a = self.start("serve-a")
        port = a.port
        b = self.start("serve-b", "--service-a", a.base, "--breaker-failures", "3",
                       "--breaker-open-ms", "1000", "--retries", "0")
        a.stop()
        for _ in range(3):
            _, _, body = request(b.port, "/call-echo?msg=x")
            self.assertIn("connection refused", json.loads(body)["error"])
        times = []
        for _ in range(10):
            started = time.monotonic()
            status, _, body = request(b.port, "/call-echo?msg=x")
            times.append(time.monotonic() - started)
            self.assertEqual(status, 503)
            self.assertEqual(json.loads(body)["error"],
                             'Get "http://127.0.0.1:%d/echo?msg=x": circuit open' % port)
        self.assertLess(statistics.median(times), 0.020 * TIME_SCALE)
        report("circuit open: answers in median %.2f ms, max %.2f ms",
               statistics.median(times) * 1000, max(times) * 1000)
        self.assertEqual(metric(b.port, 'echosvc_circuit_open{replica="http://127.0.0.1:%d"}' % port), 1)
        self.start("serve-a", listen="127.0.0.1:%d" % port)
        back = time.monotonic()
        while True:
            status, _, _ = request(b.port, "/call-echo?msg=x")
            if status == 200:
                break
            self.assertLess(time.monotonic() - back, 1.5 * TIME_SCALE)
            time.sleep(0.02)
        report("A back: first 200 after %.0f ms (--breaker-open-ms 1000)",
               (time.monotonic() - back) * 1000)
        self.assertEqual(metric(b.port, 'echosvc_circuit_open{replica="http://127.0.0.1:%d"}' % port), 0)

    def test_max_inflight_sheds_load_at_once(self):
        a = self.start("serve-a")
        b = self.start("serve-b", "--service-a", a.base, "--max-inflight", "50",
                       "--timeout-ms", "20000")
        a.freeze()
        results = []
        lock = threading.Lock()

        def call(i):
            started = time.monotonic()
            status, _, body = request(b.port, "/call-echo?msg=%d" % i, timeout=30)
            with lock:
                results.append((status, body, time.monotonic() - started))

        threads = [threading.Thread(target=call, args=(i,)) for i in range(200)]
        try:
            for t in threads:
                t.start()
            deadline = time.monotonic() + 10
            while len(results) < 150 and time.monotonic() < deadline:
                time.sleep(0.01)
            with lock:
                shed = list(results)
        finally:
            a.send(signal.SIGCONT)
        for t in threads:
            t.join(30)
        self.assertEqual(len(shed), 150)
        report("--max-inflight 50, 200 calls on a frozen A: 150 shed with 503, slowest in %.0f ms",
               max(e for _, _, e in shed) * 1000)
        for status, body, elapsed in shed:
            self.assertEqual(status, 503)
            self.assertIn("too many calls in flight", json.loads(body)["error"])
            self.assertLess(elapsed, 5 * TIME_SCALE)
        self.assertEqual(sorted(r[0] for r in results), [200] * 50 + [503] * 150)
        self.assertEqual(metric(b.port, 'echosvc_upstream_requests_total{replica="none",outcome="overloaded"}'), 150)
        b.wait_log(r'error="Get \\"http://127\.0\.0\.1:\d+/echo\?msg=\d+\\": too many calls in flight"')

    def test_slow_clients_do_not_starve_either_role(self):
        raise_fd_limit()
        a = self.start("serve-a")
        b = self.start("serve-b", "--service-a", a.base)
        for svc in (a, b):
            socks = []
            try:
                for _ in range(300):
                    s = socket.create_connection(("127.0.0.1", svc.port), timeout=10)
                    s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                    socks.append(s)
                started = time.monotonic()
                status, _, _ = request(svc.port, "/health", timeout=5)
                self.assertEqual(status, 200)
                self.assertLess(time.monotonic() - started, 1.0 * TIME_SCALE)
                report("300 slow clients on %s: /health in %.2f ms", svc.args[1],
                       (time.monotonic() - started) * 1000)
            finally:
                for s in socks:
                    s.close()

    def test_a_frozen_with_1000_calls_pending(self):
        raise_fd_limit()
        a = self.start("serve-a")
        b = self.start("serve-b", "--service-a", a.base, "--timeout-ms", "30000",
                       "--max-connections", "2048")
        a.freeze()
        socks = []
        try:
            socks = park_requests(b.port, 1000, "/call-echo?msg=p")
            deadline = time.monotonic() + 20
            while metric(b.port, "echosvc_upstream_inflight") < 1000:
                self.assertLess(time.monotonic(), deadline)
                time.sleep(0.05)
            times = timed_health(b.port, 20)
            self.assertLess(max(times), 0.1 * TIME_SCALE)
            report("A frozen, 1000 calls pending: B /health median %.2f ms, max %.2f ms, "
                   "B peak RSS %d KiB", statistics.median(times) * 1000, max(times) * 1000,
                   peak_rss_kib(b.proc.pid))
        finally:
            a.send(signal.SIGCONT)
            for s in socks:
                s.close()

    def test_connections_to_a_are_reused(self):
        a = self.start("serve-a")
        b = self.start("serve-b", "--service-a", a.base)
        with ThreadPoolExecutor(max_workers=20) as pool:
            results = list(pool.map(lambda i: request(b.port, "/call-echo?msg=%d" % i), range(1000)))
        self.assertEqual([r[0] for r in results], [200] * 1000)
        accepted = metric(a.port, "echosvc_connections_accepted_total")
        report("A accepted %d connections for 1000 calls at 20 concurrent", accepted)
        self.assertLessEqual(accepted, 2 * 20 + 1)  # not one per call; +1: this scrape


if __name__ == "__main__":
    main()
