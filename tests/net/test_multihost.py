"""echosvc across hosts: network namespaces joined by a bridge (198.18.0.0/15, the range for
such tests), the real binaries inside them. A replica cut off and healed, a rolling restart
of A's replicas, a rolling restart of two B instances behind a real HAProxy that checks
/readyz; each under a steady client loop from its own host. Needs root (CI has it)."""
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import capability  # noqa: E402
from harness import SANITIZER, TIME_SCALE, Service, main  # noqa: E402

A_HOSTS = {"a1": "198.18.0.11", "a2": "198.18.0.12", "a3": "198.18.0.13"}
B_HOSTS = {"b1": "198.18.0.21", "b2": "198.18.0.22"}
HAPROXY_CFG = os.path.join(HERE, "..", "..", "deploy", "haproxy", "haproxy.cfg")
LB, CLIENT = ("lb", "198.18.0.30"), ("client", "198.18.0.40")


def run(*cmd, check=True):
    return subprocess.run(list(cmd), capture_output=True, text=True, check=check, timeout=30)


def why_not():
    for tool in ("haproxy", "curl"):
        if shutil.which(tool) is None:
            return "%s is not installed" % tool
    return capability.network_namespaces()


class Network:
    """Hosts as namespaces, each with eth0 on one bridge in a switch namespace."""

    def __init__(self):
        self.tag = secrets.token_hex(2)
        self.switch = "ecsw" + self.tag
        self.hosts = {}
        run("ip", "netns", "add", self.switch)
        self.sw("ip", "link", "add", "br0", "type", "bridge")
        self.sw("ip", "link", "set", "br0", "up")

    def sw(self, *cmd):
        return run("ip", "netns", "exec", self.switch, *cmd)

    def ns(self, host):
        return "ec%s%s" % (host, self.tag)

    def add(self, host, address):
        ns, port = self.ns(host), "p%s%s" % (host, self.tag)
        run("ip", "netns", "add", ns)
        run("ip", "link", "add", "eth0", "netns", ns, "type", "veth", "peer", "name", port,
            "netns", self.switch)
        self.sw("ip", "link", "set", port, "master", "br0", "up")
        self.exec(host, "ip", "addr", "add", address + "/15", "dev", "eth0")
        self.exec(host, "ip", "link", "set", "eth0", "up")
        self.exec(host, "ip", "link", "set", "lo", "up")
        self.hosts[host] = address

    def exec(self, host, *cmd, check=True):
        return run("ip", "netns", "exec", self.ns(host), *cmd, check=check)

    def prefix(self, host):
        return ["ip", "netns", "exec", self.ns(host)]

    def link(self, host, up):
        self.exec(host, "ip", "link", "set", "eth0", "up" if up else "down")

    def get(self, host, url):
        r = self.exec(host, "curl", "-s", "--max-time", "5", url, check=False)
        return r.stdout

    def remove(self):
        for host in self.hosts:
            run("ip", "netns", "del", self.ns(host), check=False)
        run("ip", "netns", "del", self.switch, check=False)


def metric(text, name, labels=""):
    m = re.search(r"^%s\{[^}]*%s[^}]*\} (\d+)$" % (re.escape(name), re.escape(labels)), text, re.M)
    return int(m.group(1)) if m else None


@unittest.skipIf(why_not() is not None, why_not() or "")
class MultiHost(unittest.TestCase):
    def setUp(self):
        self.net = Network()
        self.addCleanup(self.net.remove)
        for host, address in list(A_HOSTS.items()) + list(B_HOSTS.items()) + [LB, CLIENT]:
            self.net.add(host, address)
        self.services = []
        self.workdir = tempfile.mkdtemp(prefix="echosvc-net-")
        self.addCleanup(shutil.rmtree, self.workdir, True)

    def tearDown(self):
        reports = []
        for svc in self.services:
            svc.stop()
            if SANITIZER.search(svc.log_text()):
                reports.append(svc)
                svc.dump(200)
            os.unlink(svc.logfile.name)
        self.assertEqual(reports, [], "sanitizer report")

    def start(self, host, *args):
        svc = Service(list(args), listen=None, prefix=self.net.prefix(host))
        self.services.append(svc)
        return svc

    def start_a(self, host):
        return self.start(host, "serve-a", "--listen", A_HOSTS[host] + ":8080", "--threads", "1")

    def start_b(self, host, *args):
        replicas = ",".join("http://%s:8080" % a for a in A_HOSTS.values())
        return self.start(host, "serve-b", "--listen", B_HOSTS[host] + ":8081",
                          "--service-a", replicas, "--threads", "1", *args)

    def client_loop(self, url, seconds, rate=100):
        """Starts the client loop on the client host; returns (process, stop file)."""
        stop = os.path.join(self.workdir, "stop-%s" % secrets.token_hex(3))
        proc = subprocess.Popen(self.net.prefix("client") +
                                [sys.executable, os.path.join(HERE, "client.py"), url,
                                 str(seconds), str(rate), stop],
                                stdout=subprocess.PIPE, text=True)
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        deadline = time.monotonic() + 10
        while not os.path.exists(stop + ".started"):
            self.assertLess(time.monotonic(), deadline, "the client loop did not start")
            time.sleep(0.02)
        return proc, stop

    def client_result(self, loop):
        proc, stop = loop
        open(stop, "w").close()
        out, _ = proc.communicate(timeout=30)
        result = json.loads(out)
        print("client loop: %s" % json.dumps(result))
        return result

    def wait_for(self, what, check, timeout):
        deadline = time.monotonic() + timeout
        while not check():
            self.assertLess(time.monotonic(), deadline, what)
            time.sleep(0.05)

    def test_replica_cut_off_then_healed(self):
        for host in A_HOSTS:
            self.start_a(host)
        b = self.start_b("b1", "--breaker-failures", "3", "--breaker-open-ms", "1000",
                         "--connect-timeout-ms", "200", "--timeout-ms", "1000")
        url = "http://%s:8081" % B_HOSTS["b1"]
        cut = "http://%s:8080" % A_HOSTS["a2"]
        loop = self.client_loop(url + "/call-echo?msg=net", 60)
        time.sleep(1)  # steady traffic over every replica first
        self.net.link("a2", False)
        cut_at = time.monotonic()
        cut_seconds = 0.0
        self.wait_for("a2's circuit never opened", lambda: metric(
            self.net.get("client", url + "/metrics"), "echosvc_circuit_open", cut) == 1,
            10 * TIME_SCALE)
        print("measured: a2's circuit opened %.2f s after the cut" % (time.monotonic() - cut_at))
        time.sleep(2)  # calls keep flowing while a2 is cut off
        failed_while_cut = self.client_result(loop)
        cut_seconds = time.monotonic() - cut_at
        loop = self.client_loop(url + "/call-echo?msg=net", 60)
        self.net.link("a2", True)
        healed_at = time.monotonic()
        a2 = self.services[1]
        served_before = len(a2.request_lines("/echo"))
        self.wait_for("a2 never came back into rotation",
                      lambda: len(a2.request_lines("/echo")) > served_before, 5 * TIME_SCALE)
        back = time.monotonic() - healed_at
        print("measured: a2 back in rotation %.2f s after the heal" % back)
        self.assertLess(back, (1000 + 500) / 1000 * TIME_SCALE + 1)
        healed = self.client_result(loop)
        # only calls already on a2's connections when it was cut may fail (504 or 503)
        statuses = failed_while_cut["statuses"]
        bad = sum(n for s, n in statuses.items() if s != "200")
        self.assertEqual(failed_while_cut["failures"], {})
        # the breaker's 3, then one trial call (a 1 s timeout) per open period of 1 s
        self.assertLessEqual(bad, 3 + int(cut_seconds / 2.0) + 1, statuses)
        self.assertTrue(set(statuses) <= {"200", "503", "504"}, statuses)
        self.assertGreater(statuses.get("200", 0), 150)
        self.assertEqual(set(healed["statuses"]), {"200"}, healed)
        self.assertEqual(healed["failures"], {})

    def test_rolling_restart_of_a(self):
        replicas = {host: self.start_a(host) for host in A_HOSTS}
        self.start_b("b1", "--breaker-failures", "3", "--breaker-open-ms", "500")
        loop = self.client_loop("http://%s:8081/call-echo?msg=roll" % B_HOSTS["b1"], 120)
        for host in A_HOSTS:
            time.sleep(1)  # steady traffic between restarts, not a wait for readiness
            self.assertEqual(replicas[host].stop(), 0)
            new = replicas[host] = self.start_a(host)
            self.wait_for("%s served no call after its restart" % host,
                          lambda: len(new.request_lines("/echo")) > 0, 5 * TIME_SCALE)
        time.sleep(1)
        result = self.client_result(loop)
        self.assertEqual(result["failures"], {})
        self.assertEqual(set(result["statuses"]), {"200"}, result)
        self.assertGreater(result["requests"], 100)

    def test_rolling_restart_of_b_behind_haproxy(self):
        for host in A_HOSTS:
            self.start_a(host)
        b_args = ("--shutdown-delay-ms", "1500", "--drain-ms", "3000")
        bs = {host: self.start_b(host, *b_args) for host in B_HOSTS}
        # the shipped configuration, its addresses from the environment
        self.assertEqual(len(B_HOSTS), 2)
        env = dict(os.environ, ECHOSVC_LB_BIND="%s:8081" % LB[1])
        for i, address in enumerate(B_HOSTS.values()):
            env["ECHOSVC_B%d" % (i + 1)] = "%s:8081" % address
        lb = subprocess.Popen(self.net.prefix("lb") + ["haproxy", "-f", HAPROXY_CFG, "-db"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                              env=env)
        self.addCleanup(lambda: (lb.poll() is None and lb.terminate(), lb.wait(10)))
        front = "http://%s:8081" % LB[1]
        self.wait_for("HAProxy never answered", lambda: '"service_b":"ok"' in self.net.get(
            "client", front + "/call-echo?msg=up"), 10)
        loop = self.client_loop(front + "/call-echo?msg=lb", 120)
        for host in B_HOSTS:
            old = bs[host]
            old.send(signal.SIGTERM)
            self.assertEqual(old.proc.wait(20 * TIME_SCALE), 0)
            new = self.start_b(host, *b_args)
            self.wait_for("%s served nothing after its restart" % host,
                          lambda: len(new.request_lines("/call-echo")) > 0, 5 * TIME_SCALE)
        result = self.client_result(loop)
        self.assertEqual(result["failures"], {}, result)  # no hang, no reset, no refusal
        self.assertEqual(set(result["statuses"]), {"200"}, result)
        self.assertLess(result["slowest_s"], 2.0 * TIME_SCALE, result)
        self.assertGreater(result["requests"], 100)


if __name__ == "__main__":
    main()
