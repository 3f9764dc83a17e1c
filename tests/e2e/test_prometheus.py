"""A real Prometheus (Debian's) scrapes A and B; its query API must see our traffic exactly."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
from harness import TestCase, free_port, main, request  # noqa: E402


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

        config = os.path.join(self.data.name, "prometheus.yml")
        with open(config, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                    "scrape_configs:\n"
                    "  - job_name: echosvc\n"
                    "    static_configs:\n"
                    "      - targets: ['127.0.0.1:%d', '127.0.0.1:%d']\n" % (a.port, b.port))
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
        self.wait_value('echosvc_requests_total{handler="/echo",code="200"}', 60)
        self.wait_value('echosvc_requests_total{handler="/call-echo",code="200"}', 23)
        self.wait_value('echosvc_requests_total{handler="/call-echo",code="400"}', 4)
        self.wait_value('echosvc_upstream_requests_total{outcome="ok"}', 23)
        self.wait_value('echosvc_request_duration_seconds_count{handler="/echo"}', 60)
        # the scrapes themselves are counted too, by endpoint
        self.wait_value('count(echosvc_requests_total{handler="/metrics"})', 2)
        result = self.query('echosvc_requests_total{handler="/metrics"}')
        self.assertEqual(sorted(r["metric"]["service"] for r in result), ["A", "B"])


if __name__ == "__main__":
    main()
