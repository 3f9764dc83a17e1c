"""harness.py - start the real echosvc binary and fake peers for integration tests.

Every process a test starts is registered and stopped in tearDown, whatever
happened; readiness comes from the event=listening log line, never a sleep.
When a test fails, the tail of each service's stderr is printed.
"""
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

BIN = os.environ.get("ECHOSVC_BIN", "build/src/echosvc")
# A command to run echosvc under, e.g. valgrind (see tests/meson.build).
WRAPPER = os.environ.get("ECHOSVC_WRAPPER", "").split()
READY_TIMEOUT = 60.0 if WRAPPER else 10.0


def _sanitized(path):
    try:
        with open(path, "rb") as f:
            return b"__asan_init" in f.read()
    except OSError:
        return False


SANITIZED = _sanitized(BIN)


def _mhd_version(path):
    try:
        out = subprocess.run([path, "--version"], capture_output=True, timeout=30).stdout.decode()
    except (OSError, subprocess.SubprocessError):
        return (0, 0, 0)
    found = re.search(r"libmicrohttpd (\d+)\.(\d+)\.(\d+)", out)
    return tuple(int(x) for x in found.groups()) if found else (0, 0, 0)


# libmicrohttpd 0.9.77 and later (Debian 13's 1.0) refuse some malformed heads
# themselves, with their own 400 page, where on 0.9.75 (Debian 12) echosvc
# answers them (docs/decisions.md, "Malformed heads on two libmicrohttpd versions").
MHD_VERSION = _mhd_version(BIN)
MHD_STRICT = MHD_VERSION >= (0, 9, 77)
# Latency bounds in tests are behaviour (B never waits on A), not speed; under
# valgrind everything is ~20x slower and under AddressSanitizer ~3x, so the
# bounds stretch with them.
TIME_SCALE = 20.0 if WRAPPER else 3.0 if SANITIZED else 1.0
# What AddressSanitizer, LeakSanitizer and UndefinedBehaviorSanitizer print.
SANITIZER = re.compile(r"ERROR: (Address|Leak)Sanitizer|runtime error: |SUMMARY: \w+Sanitizer"
                       r"|Fatal error in GNU libmicrohttpd"
                       r"|==\d+== (Invalid|Conditional|Syscall param|Mismatched)"
                       r"|==\d+== .* are definitely lost")
LOG_LINE = re.compile(
    r'^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d service=(?P<service>[AB]) '
    r'endpoint=(?P<endpoint>\S+|"(?:[^"\\]|\\.)*") status=(?P<status>ok|error)'
    r'(?: error="(?P<error>(?:[^"\\]|\\.)*)")? latency_ms=(?P<latency>\d+)'
    r' code=(?P<code>\d+) request_id=(?P<request_id>[A-Za-z0-9._:-]+)'
    r' trace_id=(?P<trace_id>[0-9a-f]{32}) span_id=(?P<span_id>[0-9a-f]{16})'
    r'(?: parent_id=(?P<parent_id>[0-9a-f]{16}))?'
    r' method=(?P<method>\S+|"(?:[^"\\]|\\.)*") peer=(?P<peer>\S+) bytes=(?P<bytes>\d+)'
    r'(?: replica=(?P<replica>\S+) attempts=(?P<attempts>\d+))?'
    r'(?: fault=(?P<fault>\S+))?$')


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def thread_files(pid, name):
    """The text of /proc/PID/task/*/NAME for each thread of the process (a
    thread that ends meanwhile is left out)."""
    tasks = "/proc/%d/task" % pid
    texts = []
    for task in os.listdir(tasks):
        try:
            with open(os.path.join(tasks, task, name)) as f:
                texts.append(f.read())
        except OSError:
            pass
    return texts


class Service:
    """One echosvc process with its stderr captured in a file."""

    def __init__(self, args, env=None, listen="127.0.0.1:0", wait=True, preexec=None,
                 prefix=()):
        # prefix: a command that execs the service, such as "ip netns exec HOST"
        self.args = list(prefix) + WRAPPER + [BIN] + list(args)
        if listen is not None:
            self.args += ["--listen", listen]
        self.logfile = tempfile.NamedTemporaryFile(prefix="echosvc-", suffix=".log", delete=False)
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("ECHOSVC_")}
        full_env.update(env or {})
        # setpriv (util-linux, essential) makes the kernel kill the service when
        # this process dies without its teardown (killed by a CI timeout, say),
        # and then execs it: the pid stays the service's
        self.proc = subprocess.Popen(["setpriv", "--pdeathsig", "KILL", "--"] + self.args,
                                     stdout=subprocess.PIPE, stderr=self.logfile,
                                     env=full_env, preexec_fn=preexec)
        self.port = None
        self.host = "127.0.0.1"
        if wait:
            try:
                self.wait_listening()
            except BaseException:
                self.stop()  # a service that never got ready is not left behind
                self.dump()
                raise

    def wait_listening(self):
        pattern = r'event=listening addr=(\S+)|"event":"listening","addr":"([^"]+)"'
        line = self.wait_log(pattern, READY_TIMEOUT)
        m = re.search(pattern, line)
        addr = m.group(1) or m.group(2)
        host, _, port = addr.rpartition(":")
        self.host = host.strip("[]")
        self.port = int(port)

    @property
    def base(self):
        host = "[%s]" % self.host if ":" in self.host else self.host
        return "http://%s:%d" % (host, self.port)

    def log_text(self):
        with open(self.logfile.name, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def log_lines(self):
        return self.log_text().splitlines()

    def request_lines(self, endpoint=None):
        found = []
        for line in self.log_lines():
            m = LOG_LINE.match(line)
            if m and (endpoint is None or m.group("endpoint") == endpoint):
                found.append(m)
        return found

    def wait_log(self, pattern, timeout=5.0, count=1):
        """Waits until pattern has matched count lines; returns the last match's line."""
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        while True:
            matches = [l for l in self.log_lines() if regex.search(l)]
            if len(matches) >= count:
                return matches[count - 1]
            if self.proc.poll() is not None and time.monotonic() > deadline - timeout + 0.5:
                matches = [l for l in self.log_lines() if regex.search(l)]
                if len(matches) >= count:
                    return matches[count - 1]
                raise AssertionError("process exited (%s) before log matched %r"
                                     % (self.proc.returncode, pattern))
            if time.monotonic() > deadline:
                raise AssertionError("log never matched %r within %.1fs" % (pattern, timeout))
            time.sleep(0.01)

    def send(self, sig):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    def freeze(self):
        """SIGSTOP, then waits until every thread has stopped. The stop takes effect
        about a millisecond after kill() returns, and what a test sends in between is
        still answered (20 of 500 parked calls were, now and then, before this)."""
        self.proc.send_signal(signal.SIGSTOP)
        deadline = time.monotonic() + 5 * TIME_SCALE
        while True:
            states = [text.rsplit(") ", 1)[1][0] for text in thread_files(self.proc.pid, "stat")]
            if states and all(state in "tT" for state in states):
                return
            if time.monotonic() > deadline:
                raise AssertionError("%s did not stop: thread states %s" % (self.args, states))
            time.sleep(0.001)

    def stop(self, sig=signal.SIGTERM, timeout=15.0):
        """Stops the process (SIGCONT first, in case a test froze it); returns its status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()
        return self.proc.returncode

    def dump(self, lines=40):
        sys.stderr.write("---- %s (tail of stderr) ----\n" % " ".join(self.args[1:]))
        for line in self.log_lines()[-lines:]:
            sys.stderr.write(line + "\n")


_SERIES = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def metric_value(text, query):
    """The sum of the series that match query in an exposition: a name, and
    optionally some of its labels (name{k="v",...}); other labels may differ."""
    m = re.match(r'^([^{]+)(?:\{(.*)\})?$', query)
    name, want = m.group(1), dict(_LABEL.findall(m.group(2) or ""))
    total = 0.0
    for line in text.splitlines():
        series = _SERIES.match(line)
        if series is None or series.group(1) != name:
            continue
        labels = dict(_LABEL.findall(series.group(2) or ""))
        if all(labels.get(k) == v for k, v in want.items()):
            total += float(series.group(3))
    return int(total) if total.is_integer() else total


def metric(port, query):
    """metric_value() of query on the service's /metrics."""
    _, _, body = request(port, "/metrics")
    return metric_value(body.decode(), query)


def peak_rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(re.search(r"^VmHWM:\s+(\d+) kB", f.read(), re.M).group(1))


def memory_kib(pid):
    """What a process holds: RSS, PSS, and USS (its private pages, Private_Clean +
    Private_Dirty). Shared library pages count fully in RSS, but belong to every
    process that maps them; USS is what the process itself costs."""
    with open("/proc/%d/smaps_rollup" % pid) as f:
        text = f.read()

    def field(name):
        return int(re.search(r"^%s:\s+(\d+) kB" % name, text, re.M).group(1))
    return {"rss": field("Rss"), "pss": field("Pss"),
            "uss": field("Private_Clean") + field("Private_Dirty")}


def cpu_seconds(pid):
    """User + system CPU time the process has used, in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def park_requests(port, count, path):
    """Opens count connections that each send a whole request and never read."""
    socks = []
    for i in range(count):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(("GET %s%d HTTP/1.1\r\nHost: x\r\n\r\n" % (path, i)).encode())
        socks.append(s)
    return socks


def request(port, path, method="GET", headers=None, host="127.0.0.1", timeout=10.0):
    """One request on a new connection: (status, headers, body bytes)."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, path, headers=headers or {})
        resp = conn.getresponse()
        body = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, body
    finally:
        conn.close()


def raw_exchange(port, data, timeout=5.0, host="127.0.0.1"):
    """Sends raw bytes, returns everything read until the peer closes or timeout."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(data)
        chunks = []
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        except (socket.timeout, ConnectionResetError):
            pass
        return b"".join(chunks)


def half_closed_exchanges(port, path, threads=4, per_thread=100, host="127.0.0.1"):
    """Clients that send one request each, then half-close (shutdown(SHUT_WR), as
    HTTP/1.1 allows) and read to EOF. Returns [(bytes read, seconds until EOF or
    None when the server kept the connection open past 5 s x TIME_SCALE)]."""
    results = []
    lock = threading.Lock()

    def client(t):
        for i in range(per_thread):
            with socket.create_connection((host, port), timeout=5 * TIME_SCALE) as s:
                s.sendall(("GET %s%d-%d HTTP/1.1\r\nHost: x\r\n\r\n" % (path, t, i)).encode())
                s.shutdown(socket.SHUT_WR)
                started = time.monotonic()
                data, until_eof = b"", None
                try:
                    while True:
                        chunk = s.recv(65536)
                        if not chunk:
                            until_eof = time.monotonic() - started
                            break
                        data += chunk
                except (socket.timeout, ConnectionResetError):
                    pass
            with lock:
                results.append((data, until_eof))

    workers = [threading.Thread(target=client, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return results


def compact(value):
    """The JSON echosvc writes: compact, UTF-8, and a newline."""
    return (json.dumps(value, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


class FakeA:
    """A stand-in for service A whose behaviour the test chooses.

    mode: "500", "notjson", "echo5", "nul", "slow", "never", "reset", "drip", "huge", "ok".
    """

    def __init__(self, mode, delay=0.0):
        self.mode = mode
        self.delay = delay
        self.accepted = 0
        self.requests = []
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1024)
        self.port = self.sock.getsockname()[1]
        self.base = "http://127.0.0.1:%d" % self.port
        self.stopping = threading.Event()
        self.conns = []
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        self.sock.settimeout(0.1)
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            with self.lock:
                self.accepted += 1
                self.conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _read_request(self, conn):
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return None
            data += chunk
        line = data.split(b"\r\n", 1)[0].decode()
        with self.lock:
            self.requests.append(data)
        return line

    def _answer(self, conn, status, body, extra=b""):
        head = ("HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                % (status, len(body))).encode()
        conn.sendall(head + extra + b"\r\n" + body)

    def _serve(self, conn):
        conn.settimeout(30)
        try:
            while not self.stopping.is_set():
                line = self._read_request(conn)
                if line is None:
                    return
                mode = self.mode
                if mode == "500":
                    self._answer(conn, "500 Internal Server Error", b'{"error":"boom"}\n')
                elif mode == "notjson":
                    self._answer(conn, "200 OK", b"<html>hello</html>")
                elif mode == "echo5":
                    self._answer(conn, "200 OK", b'{"echo":5}\n')
                elif mode == "nul":
                    self._answer(conn, "200 OK", b'{"echo":"a\\u0000b"}\n')
                elif mode in ("slow", "ok"):
                    if self.delay:
                        if self.stopping.wait(self.delay):
                            return
                    self._answer(conn, "200 OK", b'{"echo":"slow"}\n')
                elif mode == "never":
                    self.stopping.wait(60)
                    return
                elif mode == "reset":
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                    b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    conn.close()
                    return
                elif mode == "drip":
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
                    for _ in range(100):
                        if self.stopping.wait(0.2):
                            return
                        conn.sendall(b" ")
                elif mode == "huge":
                    size = 10 * 1024 * 1024
                    conn.sendall(("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n{\"echo\":\""
                                  % size).encode())
                    chunk = b"x" * 65536
                    sent = 10
                    while sent < size:
                        conn.sendall(chunk)
                        sent += len(chunk)
                elif mode == "huge-chunked":
                    conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
                    chunk = b"x" * 65536
                    for _ in range(160):
                        conn.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    conn.sendall(b"0\r\n\r\n")
        except OSError:
            return
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def close(self):
        self.stopping.set()
        self.sock.close()
        with self.lock:
            for c in self.conns:
                try:
                    c.close()
                except OSError:
                    pass
        self.thread.join(2)


class TestCase(unittest.TestCase):
    """Registers what a test starts and always stops it."""

    def setUp(self):
        self.services = []
        self.fakes = []

    def start(self, *args, **kwargs):
        svc = Service(list(args), **kwargs)
        self.services.append(svc)
        return svc

    def fake(self, mode, delay=0.0):
        f = FakeA(mode, delay)
        self.fakes.append(f)
        return f

    def tearDown(self):
        failed = False
        outcome = getattr(self, "_outcome", None)
        if outcome is not None:
            result = getattr(outcome, "result", None)
            errors = list(getattr(result, "errors", [])) + list(getattr(result, "failures", []))
            failed = any(t is self for t, _ in errors)
        sanitizer_reports, bad_exits = [], []
        for svc in self.services:
            running = svc.proc.poll() is None
            status = svc.stop()
            text = svc.log_text()
            if SANITIZER.search(text):
                sanitizer_reports.append(svc)
            elif running and status != 0:
                # a drain that aborts or hangs: SIGTERM must always end in exit 0
                bad_exits.append((svc, status))
                sanitizer_reports.append(svc)
            if failed or svc in sanitizer_reports:
                svc.dump(200 if svc in sanitizer_reports else 40)
            try:
                os.unlink(svc.logfile.name)
            except OSError:
                pass
        for f in self.fakes:
            f.close()
        if bad_exits:
            raise AssertionError("exit status after SIGTERM not 0: %s" % ", ".join(
                "%s: %s" % (" ".join(s.args[1:]), status) for s, status in bad_exits))
        if sanitizer_reports:
            raise AssertionError("crash or sanitizer report in the stderr of: %s"
                                 % ", ".join(" ".join(s.args[1:]) for s in sanitizer_reports))


def main():
    """Runs the file's tests. Exit status 77 (meson's skip) when every test was
    skipped, each reason printed: a suite that needs what this machine lacks
    is reported as skipped, never as passed."""
    program = unittest.main(verbosity=2, exit=False)
    result = program.result
    if not result.wasSuccessful():
        sys.exit(1)
    if result.skipped and len(result.skipped) == result.testsRun:
        for reason in sorted({why for _, why in result.skipped}):
            print("SKIP: %s" % reason)
        sys.exit(77)
    sys.exit(0)
