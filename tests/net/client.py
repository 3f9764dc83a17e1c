"""client.py - a steady client loop, run inside the client host's namespace.

    python3 client.py URL SECONDS RATE STOPFILE

Makes RATE requests a second on new connections until SECONDS pass or STOPFILE exists,
then prints one JSON line: the number of answers by status, failures by kind and the
slowest answer. Every request has a 5 s limit, so a connection that hangs is a failure.
"""
import http.client
import json
import os
import sys
import time
import urllib.parse

url, seconds, rate, stopfile = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
parts = urllib.parse.urlsplit(url)
path = parts.path + ("?" + parts.query if parts.query else "")
statuses, failures, slowest, done = {}, {}, 0.0, 0
failed_at = []  # seconds from the start, for the first few failures
started = time.monotonic()
with open(stopfile + ".started", "w"):
    pass
while time.monotonic() - started < seconds and not os.path.exists(stopfile):
    sent = time.monotonic()
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        resp.read()
        statuses[resp.status] = statuses.get(resp.status, 0) + 1
    except Exception as e:  # noqa: BLE001 - every failure is counted by its kind
        failures[type(e).__name__] = failures.get(type(e).__name__, 0) + 1
        if len(failed_at) < 5:
            failed_at.append(round(sent - started, 3))
    finally:
        conn.close()
    elapsed = time.monotonic() - sent
    slowest = max(slowest, elapsed)
    done += 1
    pause = 1.0 / rate - elapsed
    if pause > 0:
        time.sleep(pause)
print(json.dumps({"requests": done, "statuses": statuses, "failures": failures,
                  "failed_at_s": failed_at, "slowest_s": round(slowest, 3)}))
