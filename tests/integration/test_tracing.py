"""W3C Trace Context across B and A, and the access log's fields after the seed's."""
import json
import os
import re
import socket
import sys

sys.path.insert(0, os.path.dirname(__file__))
from harness import LOG_LINE, TestCase, main, raw_exchange, request  # noqa: E402

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"
VALID = "00-%s-%s-01" % (TRACE_ID, PARENT)


def header(raw, name):
    """The value of a header in a raw HTTP request, or None."""
    m = re.search(rb"^" + name.encode() + rb": ?(.*?)\r$", raw, re.M | re.I)
    return m.group(1).decode() if m else None


class TraceContext(TestCase):
    def test_b_continues_the_trace_and_is_a_s_parent(self):
        a = self.start("serve-a")
        b = self.start("serve-b", "--service-a", a.base)
        status, _, _ = request(b.port, "/call-echo?msg=t",
                               headers={"traceparent": VALID, "tracestate": "congo=t61rcWkgMzE"})
        self.assertEqual(status, 200)
        b_line = LOG_LINE.match(b.wait_log(r"endpoint=/call-echo "))
        a.wait_log(r"endpoint=/echo ")
        a_line = a.request_lines("/echo")[0]
        self.assertEqual(b_line.group("trace_id"), TRACE_ID)
        self.assertEqual(b_line.group("parent_id"), PARENT)
        self.assertNotEqual(b_line.group("span_id"), PARENT)
        self.assertEqual(a_line.group("trace_id"), TRACE_ID)
        self.assertEqual(a_line.group("parent_id"), b_line.group("span_id"))
        self.assertNotEqual(a_line.group("span_id"), b_line.group("span_id"))
        self.assertEqual(a_line.group("request_id"), b_line.group("request_id"))

    def test_headers_b_sends_to_a(self):
        fake = self.fake("ok")
        b = self.start("serve-b", "--service-a", fake.base)
        cases = [
            # (traceparent, tracestate, trace kept?, tracestate passed on?)
            (VALID, "rojo=00f067aa0ba902b7", True, True),
            ("00-%s-%s-00" % (TRACE_ID, PARENT), "a=1", True, True),      # flags kept
            (VALID.upper(), "a=1", False, False),                          # upper case
            ("ff-%s-%s-01" % (TRACE_ID, PARENT), "a=1", False, False),     # version ff
            ("00-%s-%s-01" % ("0" * 32, PARENT), "a=1", False, False),    # zero trace-id
            ("00-%s-%s-01" % (TRACE_ID, "0" * 16), "a=1", False, False),  # zero parent-id
            ("00-%s-%s-1" % (TRACE_ID, PARENT), "a=1", False, False),      # short
            (None, "a=1", False, False),                                   # absent
            (VALID, "k=" + "v" * 510, True, True),                         # 512 bytes
            (VALID, "k=" + "v" * 511, True, False),                        # 513: dropped
        ]
        for i, (parent, state, kept, passed) in enumerate(cases):
            headers = {"tracestate": state}
            if parent is not None:
                headers["traceparent"] = parent
            self.assertEqual(request(b.port, "/call-echo?msg=%d" % i, headers=headers)[0], 200)
            raw = fake.requests[i]
            sent = header(raw, "traceparent")
            self.assertRegex(sent, r"^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$", i)
            line = LOG_LINE.match(b.wait_log(r"endpoint=/call-echo ", count=i + 1))
            self.assertEqual(sent, "00-%s-%s-%s" % (line.group("trace_id"), line.group("span_id"),
                                                    parent[-2:] if kept else "01"), i)
            self.assertEqual(line.group("trace_id") == TRACE_ID, kept, i)
            self.assertEqual(line.group("parent_id") is not None, kept, i)
            self.assertEqual(header(raw, "tracestate"), state if passed else None, i)
            self.assertEqual(header(raw, "X-Request-Id"), line.group("request_id"), i)

    def test_each_call_sends_its_own_request_id(self):
        """B keeps a header list per pooled easy handle and writes the next call's
        values over the last one's when they are as long: each call to A still
        carries its own X-Request-Id and traceparent, whatever the order of
        ids of one length and of another (one loop: one handle, reused)."""
        fake = self.fake("ok")
        b = self.start("serve-b", "--service-a", fake.base, "--threads", "1")
        ids = ["id-aaaa", "id-bbbb", None, "id-cc", None, None, "id-dddd", "id-eeee"]
        for i, given in enumerate(ids):
            headers = {"X-Request-Id": given} if given is not None else {}
            self.assertEqual(request(b.port, "/call-echo?msg=%d" % i, headers=headers)[0], 200)
            line = LOG_LINE.match(b.wait_log(r"endpoint=/call-echo ", count=i + 1))
            raw = fake.requests[i]
            self.assertEqual(header(raw, "X-Request-Id"), given or line.group("request_id"), i)
            self.assertEqual(header(raw, "traceparent"), "00-%s-%s-01" % (
                line.group("trace_id"), line.group("span_id")), i)
            self.assertIsNone(header(raw, "tracestate"), i)
        self.assertEqual(len({header(r, "X-Request-Id") for r in fake.requests}), len(ids))

    def test_repeated_fields_and_whitespace(self):
        """W3C Trace Context level 1: two traceparent fields are no valid one (a
        new trace, its tracestate dropped); several tracestate fields are one
        list, joined in order; optional whitespace around a value is not part
        of it."""
        fake = self.fake("ok")
        b = self.start("serve-b", "--service-a", fake.base, "--threads", "1")
        cases = [
            # (head lines, trace kept?, tracestate B sends)
            (b"traceparent: %s\r\ntraceparent: %s\r\ntracestate: a=1\r\n"
             % (VALID.encode(), VALID.encode()), False, None),
            (b"traceparent: %s\r\ntracestate: a=1\r\ntracestate: b=2\r\n" % VALID.encode(),
             True, "a=1,b=2"),
            (b"traceparent: %s \t\r\ntracestate: a=1 \r\ntracestate:\tb=2\r\n" % VALID.encode(),
             True, "a=1,b=2"),
            (b"traceparent: %s\r\ntracestate: k=%s\r\ntracestate: x=1\r\n"
             % (VALID.encode(), b"v" * 510), True, None),              # joined past 512
        ]
        for i, (lines, kept, state) in enumerate(cases):
            reply = raw_exchange(b.port, b"GET /call-echo?msg=%d HTTP/1.1\r\nHost: x\r\n" % i + lines +
                                 b"Connection: close\r\n\r\n")
            self.assertTrue(reply.startswith(b"HTTP/1.1 200"), (i, reply[:80]))
            raw = fake.requests[i]
            line = LOG_LINE.match(b.wait_log(r"endpoint=/call-echo ", count=i + 1))
            self.assertEqual(line.group("trace_id") == TRACE_ID, kept, i)
            self.assertEqual(line.group("parent_id"), PARENT if kept else None, i)
            self.assertEqual(header(raw, "tracestate"), state, i)

    def test_a_alone_reads_traceparent_too(self):
        a = self.start("serve-a", "--threads", "1")  # one loop: lines in request order
        request(a.port, "/echo?msg=x", headers={"traceparent": VALID})
        request(a.port, "/echo?msg=y")
        a.wait_log(r"endpoint=/echo ", count=2)
        lines = a.request_lines("/echo")
        self.assertEqual((lines[0].group("trace_id"), lines[0].group("parent_id")), (TRACE_ID, PARENT))
        self.assertNotEqual(lines[1].group("trace_id"), TRACE_ID)
        self.assertIsNone(lines[1].group("parent_id"))
        self.assertNotEqual(lines[0].group("trace_id"), lines[1].group("trace_id"))


class AccessLog(TestCase):
    def test_method_peer_bytes(self):
        a = self.start("serve-a")
        s = socket.create_connection(("127.0.0.1", a.port))
        try:
            s.sendall(b"GET /echo?msg=hello HTTP/1.1\r\nHost: x\r\n\r\n")
            data = b""
            while not data.endswith(b"}\n"):
                data += s.recv(4096)
            peer = "%s:%d" % s.getsockname()
        finally:
            s.close()
        body = data.split(b"\r\n\r\n", 1)[1]
        request(a.port, "/echo?msg=hello", method="HEAD")
        request(a.port, "/echo?msg=hello", method="DELETE")
        a.wait_log(r"endpoint=/echo ", count=3)
        # by method, not by position: each loop writes its own lines, so two requests
        # served one after the other by two loops may be logged in either order
        lines = {m.group("method"): m for m in a.request_lines()}
        self.assertEqual(sorted(lines), ["DELETE", "GET", "HEAD"])
        self.assertEqual((lines["GET"].group("peer"), int(lines["GET"].group("bytes"))),
                         (peer, len(body)))
        self.assertEqual(lines["HEAD"].group("bytes"), "0")
        self.assertEqual(lines["DELETE"].group("code"), "405")

    def test_b_names_the_replica_and_attempts(self):
        a = self.start("serve-a")
        dead = socket.socket()
        dead.bind(("127.0.0.1", 0))  # bound, never listening: refused
        dead_url = "http://127.0.0.1:%d" % dead.getsockname()[1]
        try:
            b = self.start("serve-b", "--service-a", "%s,%s" % (dead_url, a.base), "--retries", "1",
                           "--breaker-failures", "100")
            for i in range(4):
                self.assertEqual(request(b.port, "/call-echo?msg=%d" % i)[0], 200)
            request(b.port, "/call-echo")  # 400: no call, no replica
            b.wait_log(r"endpoint=/call-echo ", count=5)
        finally:
            dead.close()
        # by code, not by position: B's loops write their own lines
        lines = b.request_lines("/call-echo")
        calls = [m for m in lines if m.group("code") == "200"]
        refused = [m for m in lines if m.group("code") == "400"]
        got = sorted((m.group("replica"), m.group("attempts")) for m in calls)
        # round-robin: every other call starts on the dead one and is retried on A
        self.assertEqual(got, [(a.base, "1"), (a.base, "1"), (a.base, "2"), (a.base, "2")])
        self.assertEqual(len(refused), 1)
        self.assertIsNone(refused[0].group("replica"))
        self.assertIsNone(refused[0].group("attempts"))

    def test_json_lines_carry_the_same_fields_in_order(self):
        a = self.start("serve-a", "--log-format", "json")
        b = self.start("serve-b", "--service-a", a.base, "--log-format", "json",
                       "--fault-delay-ms", "1")
        request(b.port, "/call-echo?msg=j", headers={"traceparent": VALID})
        b.wait_log(r'"endpoint":"/call-echo"')
        doc = [json.loads(l) for l in b.log_lines() if '"endpoint":"/call-echo"' in l][0]
        self.assertEqual(list(doc), ["time", "service", "endpoint", "status", "latency_ms", "code",
                                     "request_id", "trace_id", "span_id", "parent_id", "method",
                                     "peer", "bytes", "replica", "attempts", "fault"])
        self.assertEqual((doc["trace_id"], doc["parent_id"], doc["method"], doc["replica"],
                          doc["attempts"], doc["fault"]), (TRACE_ID, PARENT, "GET", a.base, 1, "delay"))
        self.assertIsInstance(doc["bytes"], int)


if __name__ == "__main__":
    main()
