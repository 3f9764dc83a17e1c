"""Shutdown: SIGTERM/SIGINT drain the requests in flight, log event=shutdown, exit 0."""
import os
import re
import signal
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import TIME_SCALE, TestCase, compact, main, metric_value, request  # noqa: E402


def in_progress(svc):
    _, _, body = request(svc.port, "/metrics")
    return metric_value(body.decode(), "echosvc_requests_in_progress") - 1  # the scrape itself


def wait_in_progress(svc, n, timeout=10):
    deadline = time.monotonic() + timeout
    while in_progress(svc) < n:
        if time.monotonic() > deadline:
            raise AssertionError("never saw %d requests in progress" % n)
        time.sleep(0.01)


def read_until(sock, marker):
    """What the server sends until marker has arrived or it closes."""
    reply = b""
    while marker not in reply:
        chunk = sock.recv(4096)
        if not chunk:
            break
        reply += chunk
    return reply


class Shutdown(TestCase):
    def wait_refused(self, svc, within):
        """Waits until a new connection is refused; returns how long the refused
        attempt itself took (a refusal is immediate, a hang is not)."""
        deadline = time.monotonic() + within
        while True:
            started = time.monotonic()
            try:
                request(svc.port, "/health", timeout=10)
            except ConnectionRefusedError:
                return time.monotonic() - started
            except OSError:
                pass  # queued on a socket that closed meanwhile: reset
            self.assertLess(time.monotonic(), deadline, "the listening socket stayed open")

    def unfinished_request(self, svc, msg):
        """A connection whose request has not ended yet, once the server counts it in progress."""
        s = socket.create_connection(("127.0.0.1", svc.port), timeout=10)
        self.addCleanup(s.close)
        s.sendall(b"GET /echo?msg=%s HTTP/1.1\r\nHost: x\r\n" % msg)  # no blank line yet
        wait_in_progress(svc, 1)
        return s

    def test_idle_sigterm_and_sigint(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            a = self.start("serve-a")
            self.assertEqual(a.stop(sig), 0)
            self.assertTrue(a.log_lines()[-1].endswith("service=A event=shutdown"), a.log_lines())

    def test_request_in_flight_finishes(self):
        a = self.start("serve-a", "--drain-ms", "5000")
        s = self.unfinished_request(a, b"late")
        a.send(signal.SIGTERM)
        a.wait_log(r"event=draining")
        # no longer accepting: refused at once, never accepted and left waiting
        self.assertLess(self.wait_refused(a, 5 * TIME_SCALE), 0.5 * TIME_SCALE)
        s.sendall(b"\r\n")
        reply = read_until(s, b'{"echo":"late"}\n')
        self.assertTrue(reply.startswith(b"HTTP/1.1 200"), reply)
        self.assertIn(b'{"echo":"late"}\n', reply)
        self.assertEqual(a.proc.wait(10), 0)
        self.assertTrue(a.log_lines()[-1].endswith("event=shutdown"))

    def test_readyz_turns_503_and_the_delay_keeps_serving(self):
        a = self.start("serve-a", "--shutdown-delay-ms", "1000", "--threads", "2")
        self.assertEqual(request(a.port, "/readyz")[::2], (200, b'{"status":"ready"}\n'))
        kept = socket.create_connection(("127.0.0.1", a.port), timeout=10)
        self.addCleanup(kept.close)
        unfinished = self.unfinished_request(a, b"late")  # holds the drain open
        signalled = time.monotonic()
        a.send(signal.SIGTERM)
        a.wait_log(r"event=draining")
        status, headers, body = request(a.port, "/readyz")
        self.assertEqual((status, body), (503, b'{"status":"draining"}\n'))
        self.assertNotIn("connection", headers)  # everything else as before
        self.assertEqual(request(a.port, "/echo?msg=still")[::2], (200, b'{"echo":"still"}\n'))
        self.assertEqual(request(a.port, "/health")[0], 200)
        self.assertLess(self.wait_refused(a, 5 * TIME_SCALE), 0.5 * TIME_SCALE)
        self.assertGreaterEqual(time.monotonic() - signalled, 0.9)
        # a kept-alive connection is still served, and told to close
        kept.sendall(b"GET /echo?msg=last HTTP/1.1\r\nHost: x\r\n\r\n")
        reply = read_until(kept, b'{"echo":"last"}\n')
        self.assertIn(b'{"echo":"last"}\n', reply)
        self.assertIn(b"Connection: close", reply)
        unfinished.sendall(b"\r\n")
        self.assertIn(b'{"echo":"late"}', read_until(unfinished, b'{"echo":"late"}\n'))
        self.assertEqual(a.proc.wait(10), 0)

    def test_b_readiness_does_not_depend_on_a(self):
        b = self.start("serve-b", "--service-a", "http://127.0.0.1:1")
        self.assertEqual(request(b.port, "/readyz")[::2], (200, b'{"status":"ready"}\n'))
        self.assertEqual(request(b.port, "/call-echo?msg=x")[0], 503)
        self.assertEqual(request(b.port, "/readyz")[0], 200)

    def test_sighup_is_logged_and_ignored(self):
        a = self.start("serve-a")
        b = self.start("serve-b", "--service-a", a.base)
        for svc in (a, b):
            svc.send(signal.SIGHUP)
            svc.wait_log(r"event=sighup action=\"ignored: no files to reload\"")
        status, _, body = request(b.port, "/call-echo?msg=still")
        self.assertEqual((status, body), (200, compact({"service_a": {"echo": "still"},
                                                        "service_b": "ok"})))
        for svc in (b, a):
            self.assertIsNone(svc.proc.poll())
            self.assertEqual(svc.stop(), 0)
            self.assertTrue(svc.log_lines()[-1].endswith("event=shutdown"))

    def test_drain_gives_up_after_drain_ms(self):
        a = self.start("serve-a", "--drain-ms", "300")
        self.unfinished_request(a, b"never")
        started = time.monotonic()
        a.send(signal.SIGTERM)
        self.assertEqual(a.proc.wait(10), 0)
        self.assertLess(time.monotonic() - started, 5)

    def test_second_signal_exits_at_once(self):
        a = self.start("serve-a", "--drain-ms", "60000")
        self.unfinished_request(a, b"stuck")
        a.send(signal.SIGTERM)
        a.wait_log(r"event=draining")
        a.send(signal.SIGTERM)
        self.assertEqual(a.proc.wait(10), 128 + signal.SIGTERM)

    def sigterm_with_calls_pending(self, b, count):
        """Starts count calls, sends SIGTERM once all are in flight, returns their answers."""
        results = []

        def call(i):
            results.append(request(b.port, "/call-echo?msg=%d" % i, timeout=20))

        threads = [threading.Thread(target=call, args=(i,)) for i in range(count)]
        for t in threads:
            t.start()
        wait_in_progress(b, count)
        b.send(signal.SIGTERM)
        for t in threads:
            t.join(20)
        self.assertEqual(b.proc.wait(10), 0)
        self.assertEqual(len(results), count)
        self.assertTrue(b.log_lines()[-1].endswith("service=B event=shutdown"))
        return results

    def test_b_drains_calls_pending_on_slow_a(self):
        fake = self.fake("slow", delay=1.0)
        b = self.start("serve-b", "--service-a", fake.base, "--drain-ms", "5000")
        for status, _, body in self.sigterm_with_calls_pending(b, 20):
            self.assertEqual((status, body), (200, compact({"service_a": {"echo": "slow"},
                                                           "service_b": "ok"})))

    def test_b_fails_calls_left_after_drain_ms(self):
        fake = self.fake("never")
        b = self.start("serve-b", "--service-a", fake.base, "--drain-ms", "200",
                       "--timeout-ms", "30000")
        for status, _, body in self.sigterm_with_calls_pending(b, 5):
            self.assertEqual(status, 503)
            self.assertIn(b"shutting down", body)


if __name__ == "__main__":
    main()
