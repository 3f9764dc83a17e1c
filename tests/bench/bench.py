#!/usr/bin/env python3
"""bench.py - echosvc beside nginx on the same machine, in the same run.

    python3 tests/bench/bench.py [--build build-release] [--rounds 3] [--duration 5]
    python3 tests/bench/bench.py --tls      (the TLS variant alone)

Starts echosvc A and B (logging every request to a file) and nginx as the reference
ceiling (A's role: `return 200`, logging nothing, and beside it, as a like-for-like figure,
the same with an access log like A's; B's role: a keep-alive proxy hop), then runs wrk
against each in alternation, a concurrency sweep, B with A frozen and 1,000 calls
pending, and counts the TCP connections A accepted. Also measures CPU per call
(utime + stime over the rounds / calls), private memory (USS, from smaps_rollup, beside
PSS and RSS) and B's system calls per call (strace -c -f over a fixed number of calls).
Writes tests/bench/out/bench.csv, docs/performance.png and prints a summary. Only ratios
measured side by side count: these machines are shared and noisy.

--tls: client to B over HTTPS and B to A over HTTPS (certificates made with openssl),
beside nginx with `ssl` on the front and `proxy_ssl` to an nginx TLS A on kept-alive
connections; A over TLS beside nginx's TLS `return 200`. Prints the handshakes A saw.
"""
import argparse
import csv
import http.client
import os
import re
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import harness  # noqa: E402
from harness import cpu_seconds, free_port, memory_kib, metric, park_requests  # noqa: E402

SYSCALL_CALLS = 20000  # B calls counted under strace


def to_ms(text):
    m = re.match(r"([\d.]+)(us|ms|s|m|h)$", text)
    if m is None:
        raise ValueError("wrk latency %r" % text)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0, "h": 3600000.0}
    return float(m.group(1)) * scale[m.group(2)]


def wrk(url, connections, duration, script=None):
    threads = 1
    cmd = ["wrk", "-t%d" % threads, "-c%d" % connections, "-d%ds" % duration, "--latency", url]
    if script:
        cmd[1:1] = ["-s", script]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60).stdout
    latency = re.search(r"Latency Distribution\s+50%\s+(\S+)\s+75%\s+\S+\s+90%\s+\S+\s+99%\s+(\S+)", out)
    if latency is None:
        raise RuntimeError("wrk %s gave no latencies:\n%s" % (url, out))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50, p99 = to_ms(latency.group(1)), to_ms(latency.group(2))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    return {"rps": rps, "p50": p50, "p99": p99,
            "non2xx": int(errors.group(1)) if errors else 0,
            "socket_errors": socket_errors.group(1) if socket_errors else ""}


class Nginx:
    """nginx from a template of this folder; prefix: a command it runs under
    (callgrind, in instructions.py), which the start and stop wait for."""

    def __init__(self, workdir, workers, template="nginx.conf.in", extra=(), prefix=()):
        self.dir = workdir
        self.port_a, self.port_b, self.port_status = free_port(), free_port(), free_port()
        self.port_a_log = free_port()
        with open(os.path.join(HERE, template)) as f:
            conf = f.read()
        for key, value in (("@DIR@", workdir), ("@PORT_A@", str(self.port_a)),
                           ("@PORT_B@", str(self.port_b)),
                           ("@PORT_STATUS@", str(self.port_status)),
                           ("@PORT_A_LOG@", str(self.port_a_log)),
                           ("@WORKERS@", str(workers))) \
                + tuple(extra):
            conf = conf.replace(key, value)
        self.conf = os.path.join(workdir, "nginx.conf")
        with open(self.conf, "w") as f:
            f.write(conf)
        self.proc = subprocess.Popen(list(prefix) + ["nginx", "-p", workdir, "-c", self.conf],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.patience = 60 if prefix else 10
        deadline = time.monotonic() + self.patience
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port_b), timeout=1):
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("nginx did not start; see %s" % workdir)
            time.sleep(0.05)

    def workers(self):
        return [int(p) for p in subprocess.run(["pgrep", "-P", str(self.proc.pid)],
                                               capture_output=True, text=True).stdout.split()]

    def pids(self):
        return [self.proc.pid] + self.workers()

    def worker_memory_kib(self):
        """The memory of the worker with the largest USS."""
        return max((memory_kib(p) for p in self.workers()), key=lambda m: m["uss"])

    def accepted(self):
        """Connections accepted by all its servers (stub_status), this read's own included."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port_status, timeout=10)
        try:
            conn.request("GET", "/status")
            text = conn.getresponse().read().decode()
        finally:
            conn.close()
        # "Active connections: N\nserver accepts handled requests\n A H R\n..."
        return int(text.splitlines()[2].split()[0])

    def stop(self):
        self.proc.send_signal(signal.SIGQUIT)
        try:
            self.proc.wait(self.patience)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def frozen_a_scenario(pending, health_seconds):
    """B with A frozen and `pending` calls waiting: B's RSS and /health latency."""
    a = harness.Service(["serve-a"])
    b = harness.Service(["serve-b", "--service-a", a.base, "--timeout-ms", "60000",
                         "--max-connections", "4096"])
    socks = []
    try:
        a.freeze()
        socks = park_requests(b.port, pending, "/call-echo?msg=p")
        deadline = time.monotonic() + 30
        while metric(b.port, "echosvc_upstream_inflight") < pending:
            if time.monotonic() > deadline:
                raise RuntimeError("calls never reached A")
            time.sleep(0.05)
        health = wrk("http://127.0.0.1:%d/health" % b.port, 1, health_seconds)
        return {"memory": memory_kib(b.proc.pid), "health_p50": health["p50"],
                "health_p99": health["p99"], "inflight": pending}
    finally:
        a.send(signal.SIGCONT)
        for s in socks:
            s.close()
        b.stop()
        a.stop()
        for svc in (a, b):
            os.unlink(svc.logfile.name)


def syscalls_per_call(b, workdir, url=None, upstream_total=None):
    """strace -c -f on B alone while wrk makes exactly SYSCALL_CALLS calls (to url,
    plain HTTP by default; upstream_total reads B's count of calls to A)."""
    url = url or "http://127.0.0.1:%d/call-echo?msg=hello" % b.port
    upstream_total = upstream_total or (lambda: metric(b.port, "echosvc_upstream_requests_total"))
    script = os.path.join(workdir, "stop.lua")
    with open(script, "w") as f:
        f.write("local n = 0\nfunction response()\n  n = n + 1\n"
                "  if n >= %d then wrk.thread:stop() end\nend\n" % SYSCALL_CALLS)
    out = os.path.join(workdir, "strace.txt")
    tracer = subprocess.Popen(["strace", "-c", "-f", "-o", out, "-p", str(b.proc.pid)],
                              stderr=subprocess.DEVNULL)
    time.sleep(1)  # strace attaches to every thread
    before = upstream_total()
    # wrk's thread stops at the count; wrk itself waits out its duration
    wrk(url, 50, 30, script)
    calls = upstream_total() - before
    tracer.send_signal(signal.SIGINT)
    tracer.wait(30)
    with open(out) as f:
        total = re.search(r"^100\.00\s+\S+\s+\S+\s+(\d+)", f.read(), re.M)
    return (int(total.group(1)) / calls) if total and calls else float("nan"), calls


def print_round(label, r, key, res):
    print("%s %d %-7s %s c=50: %8.0f req/s  p50 %.3f ms  p99 %.3f ms%s"
          % (label, r + 1, key[0], key[1], res["rps"], res["p50"], res["p99"],
             "  NON-2XX %d" % res["non2xx"] if res["non2xx"] else ""), flush=True)


def summary_head(title, results, args, cpus):
    """Prints the machine and the table's head; returns the medians of the rounds."""
    print()
    print("machine: %d CPUs, %s" % (cpus, os.uname().release))
    print("%smedians of %d rounds, wrk -t1 -c50 -d%ds:" % (title, args.rounds, args.duration))
    print("| measure | echosvc | nginx | ratio | target |")
    print("|---|---|---|---|---|")
    return {k: {m: statistics.median(r[m] for r in v) for m in ("rps", "p50", "p99")}
            for k, v in results.items()}


def tls_main(args, workdir, cpus):
    """The TLS variant: echosvc with TLS on both hops beside nginx doing the same."""
    from pki import Pki
    pki = Pki(workdir)
    tls = ["--tls-cert", pki.server[0], "--tls-key", pki.server[1]]
    a = harness.Service(["serve-a"] + tls)
    a_behind = harness.Service(["serve-a"] + tls)
    b = harness.Service(["serve-b", "--service-a", "https://localhost:%d" % a_behind.port,
                         "--service-a-ca", pki.ca[0]] + tls)
    nginx = Nginx(workdir, cpus, "nginx-tls.conf.in",
                  (("@CERT@", pki.server[0]), ("@KEY@", pki.server[1]), ("@CA@", pki.ca[0])))
    targets = {
        ("echosvc", "A"): "https://127.0.0.1:%d/echo?msg=hello" % a.port,
        ("nginx", "A"): "https://127.0.0.1:%d/echo?msg=hello" % nginx.port_a,
        ("echosvc", "B"): "https://127.0.0.1:%d/call-echo?msg=hello" % b.port,
        ("nginx", "B"): "https://127.0.0.1:%d/call-echo?msg=hello" % nginx.port_b,
    }
    ctx = ssl.create_default_context(cafile=pki.ca[0])

    def metric_tls(svc, name):
        conn = http.client.HTTPSConnection("127.0.0.1", svc.port, context=ctx, timeout=10)
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
        conn.close()
        return harness.metric_value(text, name)

    def accepted(svc):
        return metric_tls(svc, "echosvc_connections_accepted_total")

    results = {key: [] for key in targets}
    calls = handshakes = front = 0
    try:
        for r in range(args.rounds):
            for key, url in targets.items():
                counting = key == ("echosvc", "B")
                if counting:
                    before = (accepted(a_behind), accepted(b))
                res = wrk(url, 50, args.duration)
                if counting:
                    # minus 1 each: the scrapes are connections (and handshakes) too
                    handshakes += accepted(a_behind) - before[0] - 1
                    front += accepted(b) - before[1] - 1
                    calls += res["rps"] * args.duration
                results[key].append(res)
                print_round("tls round", r, key, res)
        syscalls, syscall_calls = syscalls_per_call(
            b, workdir, targets[("echosvc", "B")],
            lambda: metric_tls(b, "echosvc_upstream_requests_total"))
    finally:
        nginx.stop()
        for svc in (b, a_behind, a):
            svc.stop()
            os.unlink(svc.logfile.name)
    med = summary_head("TLS, ", results, args, cpus)
    for role, target in (("A", 0.9), ("B", 0.7)):
        e, n = med[("echosvc", role)], med[("nginx", role)]
        print("| %s over TLS req/s | %.0f | %.0f | %.2f | >= %.1f |"
              % (role, e["rps"], n["rps"], e["rps"] / n["rps"], target))
        print("| %s over TLS p99 ms | %.3f | %.3f | %.2f | |"
              % (role, e["p99"], n["p99"], e["p99"] / n["p99"]))
    print("| full TLS handshakes A saw for %.0f calls from B (c=50) | %d | | | about 50 |"
          % (calls, handshakes))
    print("| TLS handshakes B saw from wrk (c=50, %d rounds) | %d | | | %d |"
          % (args.rounds, front, 50 * args.rounds))
    print("| system calls per B call over TLS (strace -c -f, %d calls) | %.2f | | | |"
          % (syscall_calls, syscalls))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", default="build-release")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--sweep-duration", type=int, default=3)
    parser.add_argument("--out", default=os.path.join(HERE, "out"))
    parser.add_argument("--tls", action="store_true", help="run the TLS variant only")
    args = parser.parse_args()

    harness.BIN = os.path.join(ROOT, args.build, "src", "echosvc")
    if not os.path.exists(harness.BIN):
        sys.exit("no %s: meson setup %s --buildtype=release && meson compile -C %s"
                 % (harness.BIN, args.build, args.build))
    for tool in ("wrk", "nginx", "strace"):
        if shutil.which(tool) is None:
            sys.exit("%s is not installed (apt-get install -y wrk nginx-light gnuplot-nox)" % tool)
    os.makedirs(args.out, exist_ok=True)
    cpus = os.cpu_count()
    workdir = tempfile.mkdtemp(prefix="echosvc-bench-")
    for d in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        os.makedirs(os.path.join(workdir, d))

    if args.tls:
        try:
            tls_main(args, workdir, cpus)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        return

    # First, while the machine has every ephemeral port free: later, nginx's
    # proxy at c=1000 leaves thousands of connections in TIME_WAIT.
    frozen = frozen_a_scenario(1000, 3)

    a = harness.Service(["serve-a"])          # measured alone, as A
    a_behind = harness.Service(["serve-a"])   # the A that B calls
    b = harness.Service(["serve-b", "--service-a", a_behind.base])
    nginx = Nginx(workdir, cpus)
    targets = {
        ("echosvc", "A"): "http://127.0.0.1:%d/echo?msg=hello" % a.port,
        ("nginx", "A"): "http://127.0.0.1:%d/echo?msg=hello" % nginx.port_a,
        ("echosvc", "B"): "http://127.0.0.1:%d/call-echo?msg=hello" % b.port,
        ("nginx", "B"): "http://127.0.0.1:%d/call-echo?msg=hello" % nginx.port_b,
        # beside the reference, not instead of it: nginx writing an access log
        ("nginx+log", "A"): "http://127.0.0.1:%d/echo?msg=hello" % nginx.port_a_log,
    }
    swept = [key for key in targets if key[0] != "nginx+log"]  # in the sweep and its plot
    # the processes whose CPU a target's calls cost, by name
    processes = {
        ("echosvc", "A"): {"A": [a.proc.pid]},
        ("nginx", "A"): {"nginx": nginx.pids()},
        ("echosvc", "B"): {"B": [b.proc.pid], "A behind B": [a_behind.proc.pid]},
        ("nginx", "B"): {"nginx (both hops)": nginx.pids()},
        ("nginx+log", "A"): {"nginx": nginx.pids()},
    }
    cpu = {}  # (target, process name) -> [seconds, calls]
    # whose private memory is sampled halfway through the last round's run
    sampled = {("echosvc", "A"): ("echosvc A", lambda: memory_kib(a.proc.pid)),
               ("echosvc", "B"): ("echosvc B", lambda: memory_kib(b.proc.pid)),
               ("nginx", "B"): ("nginx worker", nginx.worker_memory_kib)}
    busy_memory = {}
    rows = []
    try:
        calls = 0
        # connections each proxy opened to its A, per round
        opened = {"echosvc": [], "nginx": []}
        results = {key: [] for key in targets}
        for r in range(args.rounds):
            for key, url in targets.items():
                counting = key == ("echosvc", "B")
                if counting:
                    accepted_before = metric(a_behind.port, "echosvc_connections_accepted_total")
                    calls_before = metric(b.port, "echosvc_upstream_requests_total")
                elif key == ("nginx", "B"):
                    accepted_before = nginx.accepted()
                cpu_before = {name: sum(cpu_seconds(p) for p in pids)
                              for name, pids in processes[key].items()}
                sampler = None
                if r == args.rounds - 1 and key in sampled:
                    name, read = sampled[key]
                    sampler = threading.Timer(args.duration / 2,
                                              lambda n=name, f=read: busy_memory.update({n: f()}))
                    sampler.start()
                res = wrk(url, 50, args.duration)
                if sampler is not None:
                    sampler.join()
                for name, pids in processes[key].items():
                    used = sum(cpu_seconds(p) for p in pids) - cpu_before[name]
                    total = cpu.setdefault((key, name), [0.0, 0])
                    total[0] += used
                    total[1] += res["rps"] * args.duration
                if counting:
                    # minus 1: the scrape of A's metrics above is a connection too
                    opened["echosvc"].append(
                        metric(a_behind.port, "echosvc_connections_accepted_total")
                        - accepted_before - 1)
                    calls += metric(b.port, "echosvc_upstream_requests_total") - calls_before
                elif key == ("nginx", "B"):
                    # one nginx serves both hops: minus wrk's 50 and this read itself
                    opened["nginx"].append(nginx.accepted() - accepted_before - 50 - 1)
                results[key].append(res)
                rows.append(["main", key[0], key[1], 50, r + 1, "%.0f" % res["rps"],
                             "%.3f" % res["p50"], "%.3f" % res["p99"], res["non2xx"]])
                print_round("round", r, key, res)
        memory = {"echosvc A": memory_kib(a.proc.pid), "echosvc B": memory_kib(b.proc.pid),
                  "nginx worker": nginx.worker_memory_kib()}
        syscalls, syscall_calls = syscalls_per_call(b, workdir)

        sweep = {}
        for c in (10, 50, 200, 1000):
            for key in swept:
                url = targets[key]
                res = wrk(url, c, args.sweep_duration)
                sweep[(key, c)] = res
                rows.append(["sweep", key[0], key[1], c, 1, "%.0f" % res["rps"],
                             "%.3f" % res["p50"], "%.3f" % res["p99"], res["non2xx"]])
                print("sweep  %-7s %s c=%-4d: %8.0f req/s  p99 %.3f ms" % (key[0], key[1], c,
                                                                         res["rps"], res["p99"]),
                      flush=True)
    finally:
        nginx.stop()
        b.stop()
        a_behind.stop()
        a.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    csv_path = os.path.join(args.out, "bench.csv")
    with open(csv_path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["phase", "server", "role", "connections", "round", "req_per_s", "p50_ms",
                    "p99_ms", "non_2xx"])
        w.writerows(rows)

    med = summary_head("", results, args, cpus)
    for role, target_rps, target_p99 in (("A", 1.0, None), ("B", 0.8, 1.0)):
        e, n = med[("echosvc", role)], med[("nginx", role)]
        print("| %s req/s | %.0f | %.0f | %.2f | >= %.1f |" % (role, e["rps"], n["rps"],
                                                              e["rps"] / n["rps"], target_rps))
        print("| %s p50 ms | %.3f | %.3f | %.2f | |" % (role, e["p50"], n["p50"], e["p50"] / n["p50"]))
        print("| %s p99 ms | %.3f | %.3f | %.2f | %s |" % (
            role, e["p99"], n["p99"], e["p99"] / n["p99"],
            "<= %.1f" % target_p99 if target_p99 else ""))
    e, n = med[("echosvc", "A")], med[("nginx+log", "A")]
    print("| A req/s beside nginx logging each request as A does (not the reference) "
          "| %.0f | %.0f | %.2f | |" % (e["rps"], n["rps"], e["rps"] / n["rps"]))
    for (key, name), (seconds, count) in cpu.items():
        print("| CPU per call, %s %s target: %s | %.1f us | | | |"
              % (key[0], key[1], name, seconds / count * 1e6))
    print("| system calls per B call (strace -c -f, %d calls) | %.2f | | | <= 7 |"
          % (syscall_calls, syscalls))
    for name, target in (("echosvc A", 2560), ("echosvc B", 4096), ("nginx worker", None)):
        for when, m, limit in (("during wrk -c50", busy_memory[name], target),
                               ("idle after the rounds", memory[name], None)):
            print("| %s %s: USS (PSS, RSS) | %d KiB (%d, %d) | | | %s |"
                  % (name, when, m["uss"], m["pss"], m["rss"],
                     "<= %d KiB" % limit if limit else ""))
    m = frozen["memory"]
    print("| B, A frozen, %d pending: USS (PSS, RSS) | %d KiB (%d, %d) | | | <= 24576 KiB |"
          % (frozen["inflight"], m["uss"], m["pss"], m["rss"]))
    print("| B, A frozen, %d pending: /health p99 | %.3f ms | | | <= 5 ms |"
          % (frozen["inflight"], frozen["health_p99"]))
    worst = min(sweep[(("echosvc", "B"), c)]["rps"] / sweep[(("nginx", "B"), c)]["rps"]
                for c in (10, 50, 200, 1000))
    print("| B's lowest req/s ratio over the sweep (c = 10 ... 1000) | %.2f | | | >= 0.6 |" % worst)
    # Each round is 50 new client connections, spread anew over the loops
    # (SO_REUSEPORT) or nginx's workers, each with its own pool of
    # connections to A: a loop given more clients than last round opens more.
    print("| TCP connections A accepted for %d calls from B (c=50; per round: %s) | %d | %d "
          "(per round: %s) | | <= 50 |"
          % (calls, ", ".join(map(str, opened["echosvc"])), sum(opened["echosvc"]),
             sum(opened["nginx"]), ", ".join(map(str, opened["nginx"]))))
    print("csv: %s" % os.path.relpath(csv_path, ROOT))

    if shutil.which("gnuplot"):
        plot = os.path.join(ROOT, "docs", "performance.png")
        data = os.path.join(args.out, "sweep.dat")
        with open(data, "w") as f:
            for key in swept:
                f.write("# %s %s\n" % key)
                for c in (10, 50, 200, 1000):
                    res = sweep[(key, c)]
                    f.write("%d %.0f %.3f\n" % (c, res["rps"], res["p99"]))
                f.write("\n\n")
        script = """
set terminal pngcairo size 1100,420 font ",10"
set output '%s'
set multiplot layout 1,2 title "echosvc beside nginx (same machine, same run; wrk -t1)"
set logscale x
set xlabel "concurrent connections"
set key top left
set grid
set ylabel "requests per second"
set yrange [0:*]
plot for [i=0:3] '%s' index i using 1:2 with linespoints title word("echosvc-A nginx-A echosvc-B nginx-B", i+1)
set ylabel "p99 latency (ms)"
set yrange [*:*]
set logscale y
plot for [i=0:3] '%s' index i using 1:3 with linespoints title word("echosvc-A nginx-A echosvc-B nginx-B", i+1)
unset multiplot
""" % (plot, data, data)
        subprocess.run(["gnuplot"], input=script, text=True, check=True)
        print("plot: %s" % os.path.relpath(plot, ROOT))


if __name__ == "__main__":
    main()
