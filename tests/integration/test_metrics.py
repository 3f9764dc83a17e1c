"""Metrics and JSON logs: exact counters, a promtool-valid exposition where promtool is
installed (tests/e2e requires it), parseable log lines."""
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(__file__))
from harness import TIME_SCALE, TestCase, cpu_seconds, main, metric_value, request  # noqa: E402


def scrape(port):
    status, headers, body = request(port, "/metrics")
    assert status == 200
    assert headers["content-type"].startswith("text/plain; version=0.0.4"), headers
    return body.decode()


def value(text, name, labels):
    """The sum of name's series whose labels include labels."""
    return metric_value(text, "%s{%s}" % (name, ",".join('%s="%s"' % kv for kv in labels.items())))


class Metrics(TestCase):
    # promtool comes with Debian's prometheus (100 MB), a platform tool: without
    # it these tests check every counter but not the exposition's validity,
    # which tests/e2e/test_prometheus.py then checks (skipped, saying why,
    # where promtool is missing)
    REQUIRE_PROMTOOL = False

    def promtool(self, text):
        promtool = shutil.which("promtool")
        if promtool is None and not self.REQUIRE_PROMTOOL:
            return
        self.assertIsNotNone(promtool, "promtool (Debian package prometheus) is not installed")
        r = subprocess.run([promtool, "check", "metrics"], input=text.encode(),
                           capture_output=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_every_outcome_counted_and_valid(self):
        a = self.start("serve-a")
        hang = self.fake("never")
        bad = self.fake("500")
        # ok / refused via a and a dead port; timeout; bad_response; circuit_open; overloaded
        b_ok = self.start("serve-b", "--service-a", a.base)
        for i in range(3):
            request(b_ok.port, "/call-echo?msg=%d" % i)
        request(b_ok.port, "/call-echo")           # 400
        request(b_ok.port, "/nope")                # 404
        request(b_ok.port, "/health", method="POST")  # 405
        request(b_ok.port, "/call-echo?msg=h", method="HEAD")
        text = scrape(b_ok.port)
        # no service or endpoint label: Kubernetes' target labels have those names
        self.assertNotRegex(text, r'[{,](service|endpoint)="')
        self.assertEqual(value(text, "echosvc_upstream_requests_total", {"replica": a.base, "outcome": "ok"}), 4)
        self.assertEqual(value(text, "echosvc_upstream_request_duration_seconds_count", {"replica": a.base}), 4)
        self.assertEqual(value(text, "echosvc_requests_total", {"handler": "/call-echo", "method": "GET", "code": "200"}), 3)
        self.assertEqual(value(text, "echosvc_requests_total", {"handler": "/call-echo", "method": "HEAD", "code": "200"}), 1)
        self.assertEqual(value(text, "echosvc_requests_total", {"handler": "/call-echo", "method": "GET", "code": "400"}), 1)
        self.assertEqual(value(text, "echosvc_requests_total", {"handler": "other", "method": "GET", "code": "404"}), 1)
        self.assertEqual(value(text, "echosvc_requests_total", {"handler": "/health", "method": "other", "code": "405"}), 1)
        self.assertEqual(value(text, "echosvc_request_duration_seconds_count", {"handler": "/call-echo"}), 5)
        self.assertEqual(value(text, "echosvc_request_duration_seconds_bucket", {"handler": "/call-echo", "le": "+Inf"}), 5)
        self.assertEqual(value(text, "echosvc_upstream_inflight", {}), 0)
        self.assertEqual(value(text, "echosvc_build_info", {"version": re.search(r'version="([^"]+)"', text).group(1)}), 1)
        self.assertEqual(value(text, "echosvc_faults_injected_total", {}), 0)
        # the process metrics of every client library, read from /proc like them
        with open("/proc/%d/status" % b_ok.proc.pid) as f:
            rss = int(re.search(r"VmRSS:\s+(\d+) kB", f.read()).group(1)) * 1024
        self.assertLess(abs(value(text, "process_resident_memory_bytes", {}) - rss), 4 * 1024 * 1024)
        self.assertGreater(value(text, "process_virtual_memory_bytes", {}), rss)
        fds = len(os.listdir("/proc/%d/fd" % b_ok.proc.pid))
        self.assertLessEqual(abs(value(text, "process_open_fds", {}) - fds), 2)
        # the soft limit the process sees (valgrind keeps a few descriptors for itself)
        limit = resource.prlimit(b_ok.proc.pid, resource.RLIMIT_NOFILE)[0]
        self.assertLessEqual(value(text, "process_max_fds", {}), limit)
        self.assertGreater(value(text, "process_max_fds", {}), limit - 64)
        # the CPU time the kernel counts for the process (read after the
        # scrape, so at most the scrape's own time later), to its 10 ms ticks
        cpu = cpu_seconds(b_ok.proc.pid)
        self.assertLessEqual(value(text, "process_cpu_seconds_total", {}), cpu + 0.01)
        self.assertLess(cpu - value(text, "process_cpu_seconds_total", {}), 0.05 * TIME_SCALE)
        self.assertLess(abs(value(text, "process_start_time_seconds", {}) - time.time()), 120)
        self.promtool(text)

        b_bad = self.start("serve-b", "--service-a", "%s,%s" % (hang.base, bad.base),
                           "--timeout-ms", "300", "--breaker-failures", "1", "--retries", "0",
                           "--breaker-open-ms", "60000")
        request(b_bad.port, "/call-echo?msg=t")    # timeout on hang, opens its circuit
        request(b_bad.port, "/call-echo?msg=b")    # 500 on bad, opens its circuit
        request(b_bad.port, "/call-echo?msg=c")    # both open
        text = scrape(b_bad.port)
        for outcome, n in (("timeout", 1), ("bad_response", 1), ("circuit_open", 1)):
            self.assertEqual(value(text, "echosvc_upstream_requests_total", {"outcome": outcome}), n, outcome)
        for f in (hang, bad):
            self.assertEqual(value(text, "echosvc_circuit_open", {"replica": f.base}), 1)
        self.promtool(text)

        a2 = self.start("serve-a")
        b_over = self.start("serve-b", "--service-a", a2.base, "--max-inflight", "1",
                            "--timeout-ms", "10000")
        a2.freeze()
        try:
            t = threading.Thread(target=request, args=(b_over.port, "/call-echo?msg=slow"),
                                 kwargs={"timeout": 20})
            t.start()
            deadline = time.monotonic() + 10
            while value(scrape(b_over.port), "echosvc_upstream_inflight", {}) < 1:
                self.assertLess(time.monotonic(), deadline)
            self.assertEqual(request(b_over.port, "/call-echo?msg=x")[0], 503)
            request(b_over.port, "/call-echo?msg=y")
        finally:
            a2.send(signal.SIGCONT)
        t.join(20)
        a2.stop()
        request(b_over.port, "/call-echo?msg=dead")  # refused
        text = scrape(b_over.port)
        self.assertEqual(value(text, "echosvc_upstream_requests_total", {"replica": "none", "outcome": "overloaded"}), 2)
        # a dead A: two attempts refused (--retries 1)
        self.assertEqual(value(text, "echosvc_upstream_requests_total", {"replica": a2.base, "outcome": "refused"}), 2)
        self.assertEqual(value(text, "echosvc_requests_total", {"handler": "/call-echo", "code": "503"}), 3)
        self.promtool(text)

        text = scrape(a.port)
        self.assertEqual(value(text, "echosvc_requests_total", {"handler": "/echo", "method": "GET", "code": "200"}), 4)  # B calls A with GET for HEAD too
        self.promtool(text)

    def test_counters_exact_under_concurrency(self):
        a = self.start("serve-a")
        with ThreadPoolExecutor(max_workers=50) as pool:
            statuses = list(pool.map(lambda i: request(a.port, "/echo?msg=%d" % i)[0], range(5000)))
        self.assertEqual(statuses, [200] * 5000)
        text = scrape(a.port)
        self.assertEqual(value(text, "echosvc_requests_total", {"handler": "/echo", "code": "200"}), 5000)
        self.assertEqual(value(text, "echosvc_request_duration_seconds_count", {"handler": "/echo"}), 5000)
        self.assertEqual(value(text, "echosvc_connections_accepted_total", {}), 5001)


class JsonLogs(TestCase):
    def test_every_line_is_json_with_the_fields(self):
        a = self.start("serve-a", "--log-format", "json")
        b = self.start("serve-b", "--service-a", a.base, "--log-format", "json")
        request(b.port, "/call-echo?msg=hi", headers={"X-Request-Id": "json-1"})
        request(b.port, "/x%0A%22y")
        a.stop()
        request(b.port, "/call-echo?msg=hi")
        b.stop()
        seen = {}
        for svc, name in ((a, "A"), (b, "B")):
            lines = svc.log_lines()
            self.assertTrue(lines)
            for line in lines:
                doc = json.loads(line)
                self.assertEqual(doc["service"], name)
                self.assertRegex(doc["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d$")
                if "endpoint" in doc:
                    self.assertEqual(list(doc)[:4], ["time", "service", "endpoint", "status"])
                    self.assertIsInstance(doc["latency_ms"], int)
                    self.assertIsInstance(doc["code"], int)
                    seen.setdefault(name, []).append(doc)
                else:
                    self.assertIn("event", doc)
        # lines of different worker threads may be out of order (batched): match by content
        ok = [d for d in seen["B"] if d.get("request_id") == "json-1"]
        self.assertEqual(len(ok), 1)
        self.assertEqual((ok[0]["status"], ok[0]["code"], ok[0]["endpoint"]), ("ok", 200, "/call-echo"))
        self.assertNotIn("error", ok[0])
        odd = [d for d in seen["B"] if d["code"] == 404]
        self.assertEqual([d["endpoint"] for d in odd], ['/x\n"y'])
        failed = [d for d in seen["B"] if d["code"] == 503]
        self.assertEqual(len(failed), 1)
        self.assertEqual(failed[0]["status"], "error")
        self.assertIn("connection refused", failed[0]["error"])
        self.assertEqual([d["request_id"] for d in seen["A"]], ["json-1"])
        self.assertEqual([json.loads(l).get("event") for l in b.log_lines()][-1], "shutdown")


if __name__ == "__main__":
    main()
