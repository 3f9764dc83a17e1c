"""Metrics and JSON logs: promtool-valid exposition, exact counters, parseable log lines."""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(__file__))
from harness import TestCase, main, request  # noqa: E402


def scrape(port):
    status, headers, body = request(port, "/metrics")
    assert status == 200
    assert headers["content-type"].startswith("text/plain; version=0.0.4"), headers
    return body.decode()


def value(text, name, labels):
    want = "%s{%s}" % (name, ",".join('%s="%s"' % kv for kv in labels.items()))
    for line in text.splitlines():
        if line.startswith(want + " "):
            return float(line.split()[-1])
    return None


class Metrics(TestCase):
    def promtool(self, text):
        promtool = shutil.which("promtool")
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
        text = scrape(b_ok.port)
        self.assertEqual(value(text, "echosvc_upstream_requests_total", {"service": "B", "outcome": "ok"}), 3)
        self.assertEqual(value(text, "echosvc_requests_total", {"service": "B", "endpoint": "/call-echo", "code": "200"}), 3)
        self.assertEqual(value(text, "echosvc_requests_total", {"service": "B", "endpoint": "/call-echo", "code": "400"}), 1)
        self.assertEqual(value(text, "echosvc_requests_total", {"service": "B", "endpoint": "other", "code": "404"}), 1)
        self.assertEqual(value(text, "echosvc_requests_total", {"service": "B", "endpoint": "/health", "code": "405"}), 1)
        self.assertEqual(value(text, "echosvc_request_duration_seconds_count", {"service": "B", "endpoint": "/call-echo"}), 4)
        self.assertEqual(value(text, "echosvc_request_duration_seconds_bucket", {"service": "B", "endpoint": "/call-echo", "le": "+Inf"}), 4)
        self.assertEqual(value(text, "echosvc_upstream_inflight", {"service": "B"}), 0)
        self.assertEqual(value(text, "echosvc_build_info", {"service": "B", "version": re.search(r'version="([^"]+)"', text).group(1)}), 1)
        self.assertIsNotNone(re.search(r"^process_start_time_seconds\{service=\"B\"\} \d+\.\d+$", text, re.M))
        self.promtool(text)

        b_bad = self.start("serve-b", "--service-a", "%s,%s" % (hang.base, bad.base),
                           "--timeout-ms", "300", "--breaker-failures", "1", "--retries", "0",
                           "--breaker-open-ms", "60000")
        request(b_bad.port, "/call-echo?msg=t")    # timeout on hang, opens its circuit
        request(b_bad.port, "/call-echo?msg=b")    # 500 on bad, opens its circuit
        request(b_bad.port, "/call-echo?msg=c")    # both open
        text = scrape(b_bad.port)
        for outcome, n in (("timeout", 1), ("bad_response", 1), ("circuit_open", 1)):
            self.assertEqual(value(text, "echosvc_upstream_requests_total", {"service": "B", "outcome": outcome}), n, outcome)
        for f in (hang, bad):
            self.assertEqual(value(text, "echosvc_circuit_open", {"service": "B", "replica": f.base}), 1)
        self.promtool(text)

        a2 = self.start("serve-a")
        b_over = self.start("serve-b", "--service-a", a2.base, "--max-inflight", "1",
                            "--timeout-ms", "10000")
        a2.send(signal.SIGSTOP)
        try:
            t = threading.Thread(target=request, args=(b_over.port, "/call-echo?msg=slow"),
                                 kwargs={"timeout": 20})
            t.start()
            deadline = time.monotonic() + 10
            while value(scrape(b_over.port), "echosvc_upstream_inflight", {"service": "B"}) < 1:
                self.assertLess(time.monotonic(), deadline)
            self.assertEqual(request(b_over.port, "/call-echo?msg=x")[0], 503)
            request(b_over.port, "/call-echo?msg=y")
        finally:
            a2.send(signal.SIGCONT)
        t.join(20)
        a2.stop()
        request(b_over.port, "/call-echo?msg=dead")  # refused
        text = scrape(b_over.port)
        self.assertEqual(value(text, "echosvc_upstream_requests_total", {"service": "B", "outcome": "overloaded"}), 2)
        self.assertEqual(value(text, "echosvc_upstream_requests_total", {"service": "B", "outcome": "refused"}), 1)
        self.assertEqual(value(text, "echosvc_requests_total", {"service": "B", "endpoint": "/call-echo", "code": "503"}), 3)
        self.promtool(text)

        text = scrape(a.port)
        self.assertEqual(value(text, "echosvc_requests_total", {"service": "A", "endpoint": "/echo", "code": "200"}), 3)
        self.promtool(text)

    def test_counters_exact_under_concurrency(self):
        a = self.start("serve-a")
        with ThreadPoolExecutor(max_workers=50) as pool:
            statuses = list(pool.map(lambda i: request(a.port, "/echo?msg=%d" % i)[0], range(5000)))
        self.assertEqual(statuses, [200] * 5000)
        text = scrape(a.port)
        self.assertEqual(value(text, "echosvc_requests_total", {"service": "A", "endpoint": "/echo", "code": "200"}), 5000)
        self.assertEqual(value(text, "echosvc_request_duration_seconds_count", {"service": "A", "endpoint": "/echo"}), 5000)
        self.assertEqual(value(text, "echosvc_connections_accepted_total", {"service": "A"}), 5001)


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
