"""Connection slots: past --max-connections a connection is closed at once and /health
answers as soon as a slot frees; running out of file descriptors is logged, then survived."""
import json
import os
import re
import resource
import signal
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import TIME_SCALE, TestCase, cpu_seconds, main, metric_value, request  # noqa: E402


def held_connection(port):
    """A kept-alive connection the server has surely accepted: one request answered."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    reply = b""
    while not reply.endswith(b'{"status":"ok"}\n'):
        chunk = s.recv(4096)
        if not chunk:
            raise AssertionError("closed: %r" % reply)
        reply += chunk
    return s


def closed_at_once(port, within):
    """Connects and sends a request; True when the server closes (or resets) the
    connection within `within` seconds without answering."""
    with socket.create_connection(("127.0.0.1", port), timeout=within) as s:
        try:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            return s.recv(4096) == b""
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False


def socket_count(pid):
    """How many sockets the process holds: its listening sockets and the
    connections it has accepted (not those still in the kernel's queue)."""
    fds = "/proc/%d/fd" % pid
    count = 0
    for fd in os.listdir(fds):
        try:
            count += os.readlink(os.path.join(fds, fd)).startswith("socket:")
        except OSError:
            pass  # closed meanwhile
    return count


def kept_alive_get(sock, path):
    """One request on an open connection; returns (status, body)."""
    sock.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path.encode())
    reply = b""
    while b"\r\n\r\n" not in reply:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError("closed: %r" % reply)
        reply += chunk
    head, body = reply.split(b"\r\n\r\n", 1)
    length = int(re.search(rb"Content-Length: (\d+)", head, re.I).group(1))
    while len(body) < length:
        body += sock.recv(65536)
    return int(head.split()[1]), body


class Limits(TestCase):
    def test_a_descriptor_limit_that_does_not_fit_lowers_the_connection_limit(self):
        """With the default --max-connections 1024 and 64 descriptors, the limit
        is lowered to what fits, once said; past it a connection is closed at
        once (it hung in the kernel's queue before), and /health is served as
        soon as a slot frees."""
        def small_limit():
            resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
        a = self.start("serve-a", "--threads", "1", preexec=small_limit)
        warnings = [l for l in a.log_lines() if "event=warning" in l]
        self.assertEqual(len(warnings), 1, warnings)
        fits = int(re.search(r"at most (\d+) connections are accepted", warnings[0]).group(1))
        self.assertGreater(fits, 0)
        self.assertLess(fits, 64)
        held = [held_connection(a.port) for _ in range(fits)]
        try:
            for _ in range(5):
                self.assertTrue(closed_at_once(a.port, 5 * TIME_SCALE))
            held.pop().close()
            deadline = time.monotonic() + 5 * TIME_SCALE
            while True:
                try:
                    held.append(held_connection(a.port))
                    break
                except (AssertionError, ConnectionResetError):
                    self.assertLess(time.monotonic(), deadline)
                    time.sleep(0.05)
        finally:
            for s in held:
                s.close()

    def test_b_out_of_descriptors_is_b_s_own_failure(self):
        """B that cannot open a socket to A answers 503 naming itself, counts it
        as outcome local with no replica, and neither retries it on another
        replica nor opens A's circuit: once descriptors are free again, the next
        call is served."""
        a = self.start("serve-a")
        b = self.start("serve-b", "--service-a", "%s,%s" % (a.base, a.base), "--threads", "1",
                       "--breaker-failures", "2")
        pid = b.proc.pid
        client = socket.create_connection(("127.0.0.1", b.port), timeout=10 * TIME_SCALE)
        soft, hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)
        try:
            self.assertEqual(kept_alive_get(client, "/health")[0], 200)
            resource.prlimit(pid, resource.RLIMIT_NOFILE, (len(os.listdir("/proc/%d/fd" % pid)), hard))
            for i in range(4):
                status, body = kept_alive_get(client, "/call-echo?msg=%d" % i)
                self.assertEqual(status, 503, body)
                self.assertIn("B cannot open a connection: too many open files", body.decode())
            text = kept_alive_get(client, "/metrics")[1].decode()
            self.assertEqual(metric_value(text, 'echosvc_upstream_requests_total{replica="none",outcome="local"}'), 4)
            self.assertEqual(metric_value(text, 'echosvc_upstream_requests_total{outcome="refused"}'), 0)
            self.assertEqual(metric_value(text, "echosvc_circuit_open"), 0)
            resource.prlimit(pid, resource.RLIMIT_NOFILE, (soft, hard))
            status, body = kept_alive_get(client, "/call-echo?msg=back")
            self.assertEqual((status, body), (200, b'{"service_a":{"echo":"back"},"service_b":"ok"}\n'))
        finally:
            client.close()
        b.wait_log(r'error="Get \\"http://127\.0\.0\.1:\d+/echo\?msg=0\\": B cannot open a connection: '
                   r'too many open files".* code=503 ')

    def test_max_connections_per_ip_is_the_process_s_whatever_the_loops(self):
        """--max-connections-per-ip 5 admits 5 connections from one address with
        1, 2 or 4 loops (each loop's daemon admitted 5 of its own before); past
        it a connection is closed at once, and a slot frees when one closes."""
        for threads in ("1", "2", "4"):
            a = self.start("serve-a", "--max-connections-per-ip", "5", "--threads", threads)
            held = [held_connection(a.port) for _ in range(5)]
            try:
                for _ in range(5):
                    self.assertTrue(closed_at_once(a.port, 5 * TIME_SCALE), threads)
                held.pop().close()
                deadline = time.monotonic() + 5 * TIME_SCALE
                while True:  # the server sees the close on its next turn
                    try:
                        held.append(held_connection(a.port))
                        break
                    except (AssertionError, ConnectionResetError):
                        self.assertLess(time.monotonic(), deadline, threads)
                        time.sleep(0.05)
                self.assertTrue(closed_at_once(a.port, 5 * TIME_SCALE), threads)
            finally:
                for s in held:
                    s.close()
            a.stop()

    def test_past_max_connections_closed_at_once_then_a_slot_frees(self):
        a = self.start("serve-a", "--max-connections", "10", "--threads", "2")
        held = [held_connection(a.port) for _ in range(10)]
        try:
            started = time.monotonic()
            self.assertTrue(closed_at_once(a.port, 2 * TIME_SCALE),
                            "the 11th connection was left waiting")
            self.assertLess(time.monotonic() - started, 1 * TIME_SCALE)
            held.pop().close()
            deadline = time.monotonic() + 2 * TIME_SCALE
            while True:  # the close reaches the server's loop a moment later
                try:
                    status = request(a.port, "/health", timeout=2 * TIME_SCALE)[0]
                    break
                except OSError:
                    self.assertLess(time.monotonic(), deadline, "no slot after a close")
            self.assertEqual(status, 200)
        finally:
            for s in held:
                s.close()

    def test_slow_heads_get_408_and_free_their_slots(self):
        # 50 clients on --max-connections 50 that send a byte now and then but
        # never finish their head: they used to hold every slot forever
        timeout_ms = 1000
        a = self.start("serve-a", "--max-connections", "50", "--header-timeout-ms",
                       str(timeout_ms))
        idle = held_connection(a.port)  # answered, then silent: not a slow head
        held = socket_count(a.proc.pid)
        slow, stop = [], threading.Event()
        for i in range(49):
            s = socket.create_connection(("127.0.0.1", a.port), timeout=10 * TIME_SCALE)
            s.sendall(b"GET /echo?msg=slow HTTP/1.1\r\nX-Slow: ")
            slow.append(s)
        started = time.monotonic()
        # the server has accepted all 49 before any newcomer comes (a newcomer
        # accepted first would take a slot and leave one of them over the limit)
        deadline = time.monotonic() + 5 * TIME_SCALE
        while socket_count(a.proc.pid) < held + 49:
            self.assertLess(time.monotonic(), deadline, "the slow clients were never accepted")
            time.sleep(0.01)

        def drip():  # a byte every 200 ms: never silent long enough for the idle timeout
            while not stop.wait(0.2):
                for s in slow:
                    try:
                        s.send(b"a")
                    except OSError:
                        pass
        dripper = threading.Thread(target=drip)
        dripper.start()
        try:
            # every slot is taken (once the server has accepted them all: a
            # newcomer that still finds a slot is answered and tries again)...
            deadline = time.monotonic() + 2 * TIME_SCALE
            while not closed_at_once(a.port, 2 * TIME_SCALE):
                self.assertLess(time.monotonic(), deadline, "a newcomer was left waiting")
            # ...until the slow heads run out of time: each gets its 408 and a close
            ids = set()
            for s in slow:
                reply = b""
                while True:
                    try:
                        chunk = s.recv(4096)
                    except ConnectionResetError:
                        break
                    if not chunk:
                        break
                    reply += chunk
                self.assertTrue(reply.startswith(b"HTTP/1.1 408"), reply[:60])
                self.assertIn(b"--header-timeout-ms", reply)
                self.assertRegex(reply, rb"\r\nX-Request-Id: [0-9a-f]{32}\r\n")
                ids.add(re.search(rb"\r\nX-Request-Id: ([0-9a-f]{32})\r\n", reply).group(1).decode())
                self.assertIn(b"\r\nConnection: close\r\n", reply)
                # a whole answer: the body its Content-Length says, the JSON error of the contract
                head, _, body = reply.partition(b"\r\n\r\n")
                length = int(re.search(rb"\r\nContent-Length: (\d+)\r\n", head).group(1))
                self.assertEqual(length, len(body))
                self.assertEqual(json.loads(body), {"error": "request head not complete within "
                                                    "%d ms (--header-timeout-ms)" % timeout_ms})
            waited = time.monotonic() - started
            self.assertGreaterEqual(waited, timeout_ms / 1000)
            # the limit holds to within one scan (a tenth of the timeout)
            self.assertLess(waited, (timeout_ms / 1000) * 1.1 + 1.0 * TIME_SCALE)
            self.assertEqual(request(a.port, "/health")[0], 200)
        finally:
            stop.set()
            dripper.join()
            for s in slow:
                s.close()
        # the silent kept-alive connection was not timed out: it still serves
        idle.sendall(b"GET /echo?msg=still HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertIn(b'{"echo":"still"}', idle.recv(4096))
        idle.close()
        timed_out = [m for m in a.request_lines("-") if m.group("code") == "408"]
        self.assertEqual(len(timed_out), 49)
        # each log line names the id its 408 carried
        self.assertEqual({m.group("request_id") for m in timed_out}, ids)

    def test_out_of_file_descriptors_is_logged_and_survived(self):
        # the limit is lowered under the running service, below what its
        # connection limit was fitted to at start (fd_budget.c), as another
        # part of a process (or a leak) would use descriptors up
        a = self.start("serve-a", "--threads", "1")
        pid = a.proc.pid
        hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)[1]
        resource.prlimit(pid, resource.RLIMIT_NOFILE,
                         (len(os.listdir("/proc/%d/fd" % pid)) + 200, hard))
        held, started = [], time.monotonic()
        try:
            for _ in range(400):
                try:
                    held.append(socket.create_connection(("127.0.0.1", a.port), timeout=5))
                except OSError:
                    break
            line = a.wait_log(r"event=error error=.*Too many open files", 5 * TIME_SCALE)
            self.assertIn("accept: Too many open files", line)
            time.sleep(1.5)  # a second flood of failed accepts...
            for s in held[-50:]:
                s.close()
            held = held[:-50]
            for _ in range(50):
                held.append(socket.create_connection(("127.0.0.1", a.port), timeout=5))
            elapsed = time.monotonic() - started
            logged = [l for l in a.log_lines() if "Too many open files" in l]
            # ...is logged at most once a second
            self.assertLessEqual(len(logged), elapsed + 1)
            # every connection closes while the server is stopped, so that one
            # turn of its loop sees them all: accepting must resume after it
            # (it did not: MHD puts its listening socket back only in a later
            # run, and nothing came to make one)
            a.freeze()
            for s in held:
                s.close()
            held = []
            a.send(signal.SIGCONT)
        finally:
            for s in held:
                s.close()
        deadline = time.monotonic() + 5 * TIME_SCALE
        while True:
            try:
                self.assertEqual(request(a.port, "/health")[0], 200)
                break
            except OSError:
                self.assertLess(time.monotonic(), deadline, "never recovered")

    def test_out_of_file_descriptors_with_no_connection_does_not_spin(self):
        """Out of descriptors before its first connection, libmicrohttpd fails
        accept() as fast as it is run; the service retries ten times a second
        instead of taking a core, and serves the waiting client once a descriptor
        is free."""
        a = self.start("serve-a", "--threads", "1")
        pid = a.proc.pid
        soft, hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (len(os.listdir("/proc/%d/fd" % pid)), hard))
        client = socket.create_connection(("127.0.0.1", a.port), timeout=10 * TIME_SCALE)
        try:
            a.wait_log(r"event=error error=.*Too many open files", 5 * TIME_SCALE)
            before, start = cpu_seconds(pid), time.monotonic()
            time.sleep(2)
            busy = (cpu_seconds(pid) - before) / (time.monotonic() - start)
            self.assertLess(busy, 0.25, "the service spins at %.0f %% of a core" % (busy * 100))
            resource.prlimit(pid, resource.RLIMIT_NOFILE, (soft, hard))
            client.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            self.assertTrue(client.recv(4096).startswith(b"HTTP/1.1 200 "))
        finally:
            client.close()


if __name__ == "__main__":
    main()
