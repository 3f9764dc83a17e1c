#!/usr/bin/env python3
"""instructions.py - user-space instructions per request, counted by callgrind beside nginx.

    python3 tests/bench/instructions.py [--build build-release] [--calls 2000]

Requests per second on these shared machines swing by a fifth from one minute to the
next; instructions counted by valgrind --tool=callgrind do not (the same binary and
load give the same count). This runs, one at a time, under callgrind and with one
event loop or worker each: echosvc A; echosvc B with a native echosvc A behind it;
nginx as A's role (`return 200`, also with an access log like A's) and as B's role (the keep-alive proxy hop, whose
process also serves the A it calls, so its count covers both hops), from
tests/bench/nginx.conf.in with `master_process off`; and the floor of B's client, the
least a libcurl client spends per call (tests/bench/curl_floor.c: one reused easy
handle, the URL set per call; also with B's two headers rebuilt per call), calling
the same native A. Each runs twice, with one
request and with --calls (ten keep-alive clients, Python's http.client): the
difference over the extra requests is the cost of a request, start-up and exit
cancelling out. It counts user space only (system calls are strace's and perf's
business, in bench.py), and memset apart: valgrind counts each byte of a
`rep stosb` as an instruction.
"""
import argparse
import collections
import http.client
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
sys.path.insert(0, HERE)
import harness  # noqa: E402
from bench import Nginx  # noqa: E402

COST = re.compile(r"^\s*([\d,]+) \([\s\d.]+%\)\s+(.*?)(?: \[(.*)\])?$")
OBJECTS = (("libcurl", "libcurl"), ("libmicrohttpd", "libmicrohttpd"), ("echosvc", "echosvc"),
           ("nginx", "nginx"), ("libc", "libc.so"), ("cJSON", "libcjson"))


def callgrind_costs(path):
    """{object name: instructions}, and memset's instructions apart, from a callgrind file."""
    out = subprocess.run(["callgrind_annotate", "--threshold=100", path], capture_output=True,
                         text=True, check=True, timeout=120).stdout
    costs = collections.Counter()
    body = out.split("file:function", 1)[1]
    for line in body.splitlines():
        m = COST.match(line)
        if m is None:
            continue
        count = int(m.group(1).replace(",", ""))
        function, obj = m.group(2), m.group(3) or ""
        if "memset" in function:
            costs["memset"] += count
            continue
        name = next((label for label, part in OBJECTS if part in obj), "other")
        costs[name] += count
    return costs


def drive(port, path, calls):
    """`calls` GET requests over up to 10 keep-alive connections; returns the count
    answered 200. (wrk would wait out its whole duration after a count.)"""
    lock = threading.Lock()
    state = {"left": calls, "ok": 0}

    def client():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            while True:
                with lock:
                    if state["left"] == 0:
                        return
                    state["left"] -= 1
                conn.request("GET", path)
                response = conn.getresponse()
                response.read()
                if response.status == 200:
                    with lock:
                        state["ok"] += 1
        finally:
            conn.close()

    threads = [threading.Thread(target=client) for _ in range(min(10, calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return state["ok"]


def run_echosvc(args, path, calls, out):
    """One echosvc process under callgrind; returns (costs, requests)."""
    svc = harness.Service(args, prefix=["valgrind", "--tool=callgrind",
                                        "--callgrind-out-file=" + out])
    try:
        done = drive(svc.port, path, calls)
    finally:
        svc.stop(timeout=60)
        os.unlink(svc.logfile.name)
    return callgrind_costs(out), done


def run_nginx(port_key, path, calls, workdir, out):
    """nginx (one worker, no master) under callgrind; returns (costs, requests)."""
    nginx = Nginx(workdir, 1, extra=(("daemon off;", "daemon off;\nmaster_process off;"),),
                  prefix=["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out])
    try:
        port = {"A": nginx.port_a, "A+log": nginx.port_a_log, "B": nginx.port_b}[port_key]
        done = drive(port, path, calls)
    finally:
        nginx.stop()  # SIGQUIT: nginx's graceful stop, then callgrind writes its file
    return callgrind_costs(out), done


def run_floor(url, headers, calls, out):
    """curl_floor under callgrind; returns (costs, calls answered 200)."""
    floor = os.path.join(os.path.dirname(harness.BIN), "..", "tests", "curl_floor")
    cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out, floor, url,
           str(calls)] + (["--headers"] if headers else [])
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    return callgrind_costs(out), int(r.stdout.strip() or 0)


def per_request(run, calls, workdir):
    """Instructions per request by object: (N requests - 1 request) / (N - 1)."""
    one, n_one = run(1, os.path.join(workdir, "one.out"))
    many, n_many = run(calls, os.path.join(workdir, "many.out"))
    extra = n_many - n_one
    return {k: (many[k] - one[k]) / extra for k in set(many) | set(one)}, extra


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", default="build-release")
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    harness.BIN = os.path.join(ROOT, args.build, "src", "echosvc")
    for tool in ("nginx", "valgrind", "callgrind_annotate"):
        if shutil.which(tool) is None:
            sys.exit("%s is not installed (apt-get install -y nginx-light valgrind)" % tool)
    if not os.path.exists(harness.BIN):
        sys.exit("no %s: meson setup %s --buildtype=release" % (harness.BIN, args.build))
    harness.READY_TIMEOUT = 60.0  # start-up under callgrind
    workdir = tempfile.mkdtemp(prefix="echosvc-instructions-")
    for d in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        os.makedirs(os.path.join(workdir, d))
    behind = harness.Service(["serve-a"])  # native: only B is counted
    rows = {}
    try:
        runs = {
            "echosvc A": lambda n, out: run_echosvc(["serve-a", "--threads", "1"],
                                                    "/echo?msg=hello", n, out),
            "nginx return 200": lambda n, out: run_nginx("A", "/echo?msg=hello", n,
                                                         workdir, out),
            "nginx return 200 + access log": lambda n, out: run_nginx("A+log", "/echo?msg=hello",
                                                                      n, workdir, out),
            "echosvc B": lambda n, out: run_echosvc(
                ["serve-b", "--threads", "1", "--service-a", behind.base],
                "/call-echo?msg=hello", n, out),
            "nginx both hops": lambda n, out: run_nginx("B", "/call-echo?msg=hello", n,
                                                        workdir, out),
            "libcurl floor": lambda n, out: run_floor(behind.base + "/echo?msg=hello", False,
                                                      n, out),
            "libcurl floor, B's headers": lambda n, out: run_floor(
                behind.base + "/echo?msg=hello", True, n, out),
        }
        for name, run in runs.items():
            rows[name], extra = per_request(run, args.calls, workdir)
            print("%s: %d requests counted" % (name, extra), file=sys.stderr)
    finally:
        behind.stop()
        os.unlink(behind.logfile.name)
        shutil.rmtree(workdir, ignore_errors=True)
    rows["echosvc B + A"] = {k: rows["echosvc B"].get(k, 0) + rows["echosvc A"].get(k, 0)
                             for k in set(rows["echosvc B"]) | set(rows["echosvc A"])}
    def total(name):
        return sum(v for k, v in rows[name].items() if k != "memset")

    columns = ["libcurl", "libmicrohttpd", "echosvc", "nginx", "libc", "cJSON", "other"]
    print("| user-space instructions per request (callgrind, --calls %d) | all but memset | "
          "memset | %s |" % (args.calls, " | ".join(columns)))
    print("|---|---|---|%s" % ("---|" * len(columns)))
    for name in ("echosvc A", "nginx return 200", "nginx return 200 + access log", "echosvc B",
                 "echosvc B + A", "nginx both hops", "libcurl floor",
                 "libcurl floor, B's headers"):
        r = rows[name]
        print("| %s | **%s** | %s | %s |" % (
            name, "{:,.0f}".format(total(name)), "{:,.0f}".format(r.get("memset", 0)),
            " | ".join("{:,.0f}".format(r.get(c, 0)) for c in columns)))
    print("echosvc / nginx, without memset: A %.2f (%.2f of nginx with an access log), "
          "B + A %.2f" % (total("echosvc A") / total("nginx return 200"),
                          total("echosvc A") / total("nginx return 200 + access log"),
                          total("echosvc B + A") / total("nginx both hops")))

    def client(name):
        return rows[name].get("libcurl", 0) + rows[name].get("libc", 0)
    print("B's client against the floor, libcurl + libc (B's libc includes its server's): "
          "%.2f of the floor, %.2f of the floor with B's headers; libcurl alone %.2f and %.2f"
          % (client("echosvc B") / client("libcurl floor"),
             client("echosvc B") / client("libcurl floor, B's headers"),
             rows["echosvc B"].get("libcurl", 0) / rows["libcurl floor"]["libcurl"],
             rows["echosvc B"].get("libcurl", 0) / rows["libcurl floor, B's headers"]["libcurl"]))


if __name__ == "__main__":
    main()
