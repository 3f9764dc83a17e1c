"""A real Prometheus (Debian's) scrapes A and B; its query API must see our traffic exactly."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
import capability  # noqa: E402
from harness import TestCase, free_port, main, request  # noqa: E402
import test_metrics  # noqa: E402
from test_faults import fault_plan  # noqa: E402
from pki import Pki  # noqa: E402

CALLS = 80          # client calls to the faulty pair
FAILURES = 3        # B's --breaker-failures


def faulty_pair_outcome():
    """What B answers for each of CALLS sequential calls when A injects errors
    (rate 0.3, seed 7, one loop) and B's breaker opens after FAILURES failures
    in a row and stays open: A draws only for the calls it receives."""
    plan = iter([error for _, error in fault_plan(7, CALLS, error_rate=0.3)])
    answers, run = [], 0
    for _ in range(CALLS):
        if run >= FAILURES:
            answers.append(503)
            continue
        error = next(plan)
        run = run + 1 if error else 0
        answers.append(502 if error else 200)
    return answers


@unittest.skipIf(capability.program("promtool", "prometheus") is not None,
                 capability.program("promtool", "prometheus") or "")
class PromtoolChecksEveryOutcome(test_metrics.Metrics):
    """tests/integration/test_metrics.py's outcome test, its expositions checked
    by promtool (which that suite leaves out where promtool is not installed)."""
    REQUIRE_PROMTOOL = True
    test_counters_exact_under_concurrency = None
    test_every_line_is_json_with_the_fields = None


@unittest.skipIf(capability.program("prometheus", "prometheus") is not None,
                 capability.program("prometheus", "prometheus") or "")
class Prometheus(TestCase):
    def setUp(self):
        super().setUp()
        self.prom = None
        self.data = tempfile.TemporaryDirectory(prefix="echosvc-prom-")

    def tearDown(self):
        if self.prom is not None and self.prom.poll() is None:
            self.prom.terminate()
            try:
                self.prom.wait(15)
            except subprocess.TimeoutExpired:
                self.prom.kill()
                self.prom.wait()
        if self.prom is not None:
            self.prom_log.close()
        super().tearDown()
        self.data.cleanup()

    def query(self, expr):
        url = "http://127.0.0.1:%d/api/v1/query?%s" % (self.prom_port,
                                                        urllib.parse.urlencode({"query": expr}))
        with urllib.request.urlopen(url, timeout=5) as resp:
            doc = json.load(resp)
        self.assertEqual(doc["status"], "success", doc)
        return doc["data"]["result"]

    def wait_value(self, expr, want, timeout=30):
        deadline = time.monotonic() + timeout
        got = None
        while time.monotonic() < deadline:
            result = self.query(expr)
            got = float(result[0]["value"][1]) if result else None
            if got == want:
                return
            time.sleep(0.25)
        self.fail("%s = %s, want %s" % (expr, got, want))

    def test_prometheus_sees_the_traffic(self):
        binary = shutil.which("prometheus")
        self.assertIsNotNone(binary, "prometheus (Debian package) is not installed")
        a = self.start("serve-a")
        b = self.start("serve-b", "--service-a", a.base)
        for i in range(37):
            self.assertEqual(request(a.port, "/echo?msg=%d" % i)[0], 200)
        for i in range(23):
            self.assertEqual(request(b.port, "/call-echo?msg=%d" % i)[0], 200)
        for _ in range(4):
            self.assertEqual(request(b.port, "/call-echo")[0], 400)
        # a faulty A behind a B with a breaker: the client sees what the seed decides
        a2 = self.start("serve-a", "--threads", "1", "--fault-error-rate", "0.3",
                        "--fault-seed", "7")
        b2 = self.start("serve-b", "--service-a", a2.base, "--breaker-failures", str(FAILURES),
                        "--breaker-open-ms", "600000")
        want = faulty_pair_outcome()
        got = [request(b2.port, "/call-echo?msg=f%d" % i)[0] for i in range(CALLS)]
        self.assertEqual(got, want)
        self.assertIn(503, want)  # the breaker did open within the loop

        # an A that serves HTTPS only, scraped the way a TLS target is
        pki = Pki(self.data.name)
        a_tls = self.start("serve-a", "--tls-cert", pki.server[0], "--tls-key", pki.server[1])

        config = os.path.join(self.data.name, "prometheus.yml")
        with open(config, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                    "scrape_configs:\n"
                    "  - job_name: echosvc\n"
                    "    static_configs:\n"
                    "      - targets: ['127.0.0.1:%d', '127.0.0.1:%d']\n"
                    # the target labels Kubernetes service discovery adds
                    "        labels: {service: echosvc, endpoint: http-metrics}\n"
                    "  - job_name: faults\n"
                    "    static_configs:\n"
                    "      - targets: ['127.0.0.1:%d', '127.0.0.1:%d']\n"
                    "  - job_name: tls\n"
                    "    scheme: https\n"
                    "    tls_config: {ca_file: '%s'}\n"
                    "    static_configs:\n"
                    "      - targets: ['127.0.0.1:%d']\n"
                    % (a.port, b.port, a2.port, b2.port, pki.ca[0], a_tls.port))
        self.prom_port = free_port()
        self.prom_log = open(os.path.join(self.data.name, "prometheus.log"), "wb")
        self.prom = subprocess.Popen(
            [binary, "--config.file=" + config,
             "--storage.tsdb.path=" + os.path.join(self.data.name, "tsdb"),
             "--web.listen-address=127.0.0.1:%d" % self.prom_port],
            stdout=self.prom_log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/-/ready" % self.prom_port,
                                            timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if self.prom.poll() is not None or time.monotonic() > deadline:
                with open(os.path.join(self.data.name, "prometheus.log")) as log:
                    self.fail("prometheus did not become ready:\n" + log.read()[-3000:])
            time.sleep(0.1)

        self.wait_value('up{job="echosvc"} == 1', 1)
        self.wait_value('count(up{job="echosvc"} == 1)', 2)
        # 37 direct calls plus the 23 that B made on behalf of its clients
        self.wait_value('sum(echosvc_requests_total{job="echosvc",handler="/echo",code="200"})', 60)
        self.wait_value('sum(echosvc_requests_total{job="echosvc",handler="/call-echo",method="GET",code="200"})', 23)
        self.wait_value('sum(echosvc_requests_total{job="echosvc",handler="/call-echo",code="400"})', 4)
        self.wait_value('sum(echosvc_upstream_requests_total{job="echosvc",replica="%s",outcome="ok"})' % a.base, 23)
        self.wait_value('sum(echosvc_upstream_request_duration_seconds_count{job="echosvc"})', 23)
        self.wait_value('sum(echosvc_request_duration_seconds_count{job="echosvc",handler="/echo"})', 60)
        # the scrapes themselves are counted too, by handler, told apart by instance
        self.wait_value('count(echosvc_requests_total{job="echosvc",handler="/metrics"})', 2)
        result = self.query('echosvc_requests_total{job="echosvc",handler="/metrics"}')
        self.assertEqual(sorted(r["metric"]["instance"] for r in result),
                         sorted("127.0.0.1:%d" % p for p in (a.port, b.port)))
        # the target labels stand as they are: no metric of ours collides with them
        # (a collision would rename ours exported_service / exported_endpoint)
        self.wait_value('count(echosvc_requests_total{job="echosvc",service="echosvc",endpoint="http-metrics"})'
                        ' == bool count(echosvc_requests_total{job="echosvc"})', 1)
        self.assertEqual(self.query('count({job="echosvc",exported_service!=""})'), [])
        self.assertEqual(self.query('count({job="echosvc",exported_endpoint!=""})'), [])
        # the process metrics of every client library, for each target
        self.wait_value('count(process_resident_memory_bytes{job="echosvc"} > 0)', 2)
        self.wait_value('count(process_open_fds{job="echosvc"} > 0)', 2)

        # over TLS, with the chain checked against the test CA
        self.wait_value('up{job="tls"}', 1)
        self.wait_value('sum(echosvc_requests_total{job="tls",handler="/metrics",code="200"}) > bool 0', 1)

        # the faulty pair: A's injected errors, B's 502s, the breaker, all by name
        a2_target, b2_target = ("127.0.0.1:%d" % p for p in (a2.port, b2.port))
        errors = want.count(502)
        self.wait_value('echosvc_faults_injected_total{instance="%s",kind="error"}' % a2_target, errors)
        self.wait_value('sum(echosvc_requests_total{instance="%s",handler="/echo",code="500"})' % a2_target, errors)
        self.wait_value('sum(echosvc_requests_total{instance="%s",handler="/call-echo",code="502"})' % b2_target, errors)
        self.wait_value('sum(echosvc_requests_total{instance="%s",handler="/call-echo",code="503"})' % b2_target, want.count(503))
        self.wait_value('echosvc_upstream_requests_total{instance="%s",outcome="bad_response"}' % b2_target, errors)
        self.wait_value('echosvc_upstream_requests_total{instance="%s",replica="none",outcome="circuit_open"}' % b2_target,
                        want.count(503))
        self.wait_value('echosvc_circuit_open{instance="%s",replica="%s"}' % (b2_target, a2.base), 1)
        # the error ratio an alert would use (docs/operations.md)
        result = self.query('sum(echosvc_requests_total{instance="%s",handler="/call-echo",code=~"5.."})'
                            ' / sum(echosvc_requests_total{instance="%s",handler="/call-echo"})'
                            % (b2_target, b2_target))
        self.assertAlmostEqual(float(result[0]["value"][1]), (CALLS - want.count(200)) / CALLS)


if __name__ == "__main__":
    main()
