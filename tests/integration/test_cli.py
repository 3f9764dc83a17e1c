"""The command line: help, version, --check-config, usage errors (2), start-up failures (1)."""
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import (BIN, SANITIZED, TIME_SCALE, WRAPPER, TestCase, free_port, main,  # noqa: E402
                     request)
from pki import Pki  # noqa: E402

OPTIONS = ["listen", "service-a", "timeout-ms", "connect-timeout-ms", "retries", "max-inflight",
           "breaker-failures", "breaker-open-ms", "max-msg-bytes", "threads", "max-connections",
           "drain-ms", "log-format", "max-connections-per-ip"]


def run(*args, env=None, timeout=10):
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("ECHOSVC_")}
    full_env.update(env or {})
    return subprocess.run([BIN] + list(args), capture_output=True, timeout=timeout, env=full_env)


class Cli(TestCase):
    def test_version(self):
        for args in (["--version"], ["-V"], ["serve-a", "--version"], ["serve-b", "--listen", "x:1", "-V"],
                     ["up", "--version"]):
            r = run(*args)
            self.assertEqual(r.returncode, 0, args)
            self.assertRegex(r.stdout.decode(),
                             r"^echosvc \d+\.\d+\.\d+\nlibmicrohttpd \d+\.\d+\.\d+, libcurl \S+, "
                             r"cJSON \S+, GnuTLS \S+\n$")

    def test_an_unknown_libmicrohttpd_is_said_once_and_served(self):
        """A libmicrohttpd version mhd_quirks.c does not know: one event=warning
        line at start naming it, and the service runs on the safe path."""
        if SANITIZED or WRAPPER or shutil.which("cc") is None:
            self.skipTest("needs cc and a binary without a sanitizer or valgrind to preload into")
        work = tempfile.mkdtemp(prefix="echosvc-mhd-version-")
        self.addCleanup(shutil.rmtree, work)
        with open(os.path.join(work, "version.c"), "w") as f:
            f.write('const char *MHD_get_version(void) { return "0.9.99"; }\n')
        lib = os.path.join(work, "libversion.so")
        subprocess.run(["cc", "-shared", "-fPIC", "-o", lib, os.path.join(work, "version.c")],
                       check=True, timeout=60)
        a = self.start("serve-a", env={"LD_PRELOAD": lib})
        warnings = [l for l in a.log_lines() if "event=warning" in l and "libmicrohttpd" in l]
        self.assertEqual(len(warnings), 1, warnings)
        self.assertIn("libmicrohttpd 0.9.99 is not a version echosvc knows", warnings[0])
        self.assertEqual(request(a.port, "/echo?msg=safe")[0], 200)
        # the library as it runs here is known: no warning
        b = self.start("serve-a")
        self.assertFalse([l for l in b.log_lines() if "event=warning" in l and "libmicrohttpd" in l])

    def test_usage_error_stays_one_line_whatever_it_quotes(self):
        # found by tests/fuzz/fuzz_options.c: a flag or value with a line break in it
        for args in (["serve-a", "--listen\nx"], ["serve-a", "--listen", "a\nb"],
                     ["up\nx"], ["serve-b", "stray\rarg"]):
            r = run(*args)
            self.assertEqual(r.returncode, 2, args)
            self.assertEqual(r.stderr.count(b"\n"), 1, r.stderr)
            self.assertNotIn(b"\r", r.stderr)

    def test_threads_default_is_the_cpus_this_process_may_use(self):
        # a container limited by a cpuset gets its own count, not the host's
        r = subprocess.run([BIN, "serve-a", "--check-config"], capture_output=True, timeout=10,
                           preexec_fn=lambda: os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(b"threads = 1 (default", r.stdout)
        if len(os.sched_getaffinity(0)) > 1:
            r = run("serve-a", "--check-config")
            self.assertIn(b"threads = %d (default" % len(os.sched_getaffinity(0)), r.stdout)

    def test_help_lists_every_option_of_the_spec(self):
        r = run("--help")
        self.assertEqual(r.returncode, 0)
        text = r.stdout.decode()
        for command in ("serve-a", "serve-b", "up", "probe"):
            self.assertIn("\n  %s " % command, text)
        for opt in OPTIONS:
            self.assertIn("--" + opt + " ", text)
            self.assertIn("ECHOSVC_" + opt.upper().replace("-", "_"), text)
        r = run("serve-a", "--help")
        self.assertEqual(r.returncode, 0)
        self.assertNotIn("--timeout-ms", r.stdout.decode())

    def test_check_config_sources(self):
        r = run("serve-b", "--check-config", "--timeout-ms", "750",
                env={"ECHOSVC_RETRIES": "2", "ECHOSVC_TIMEOUT_MS": "100"})
        self.assertEqual(r.returncode, 0, r.stderr)
        text = r.stdout.decode()
        self.assertIn("timeout-ms = 750 (flag --timeout-ms)\n", text)
        self.assertIn("retries = 2 (environment ECHOSVC_RETRIES)\n", text)
        self.assertIn("service-a = http://127.0.0.1:8080 (default)\n", text)
        self.assertIn("listen = 127.0.0.1:8081 (default)\n", text)
        for opt in OPTIONS:
            self.assertRegex(text, r"(?m)^%s = " % re.escape(opt))

    def assertUsage(self, args, must_name, env=None):
        r = run(*args, env=env)
        err = r.stderr.decode()
        self.assertEqual(r.returncode, 2, (args, err))
        self.assertEqual(err.count("\n"), 1, err)
        for word in must_name:
            self.assertIn(word, err)
        self.assertEqual(r.stdout, b"")

    def test_usage_errors(self):
        self.assertUsage(["serve-a", "--listen", "127.0.0.1:70000"], ["--listen", "127.0.0.1:70000"])
        self.assertUsage(["serve-b", "--service-a", "ftp://x"], ["--service-a", "ftp://x", "http://"])
        self.assertUsage(["serve-b", "--service-a", "http://a:1/x"], ["--service-a", "http://a:1/x"])
        self.assertUsage(["serve-b", "--timeout-ms", "soon"], ["--timeout-ms", "soon", "number"])
        self.assertUsage(["serve-b", "--retries", "-1"], ["--retries", "-1"])
        self.assertUsage(["serve-a", "--log-format", "xml"], ["--log-format", "xml", "text or json"])
        self.assertUsage(["serve-a", "--threads"], ["--threads", "missing"])
        self.assertUsage(["serve-a", "--bogus", "1"], ["--bogus"])
        self.assertUsage(["serve-a", "--timeout-ms", "5"], ["--timeout-ms", "serve-a"])
        self.assertUsage(["launch"], ["launch"])
        self.assertUsage([], ["command"])
        self.assertUsage(["serve-a"], ["ECHOSVC_MAX_CONNECTIONS", "lots"],
                         env={"ECHOSVC_MAX_CONNECTIONS": "lots"})

    def test_port_in_use_exits_1(self):
        with socket.socket() as holder:
            holder.bind(("127.0.0.1", 0))
            holder.listen(1)
            port = holder.getsockname()[1]
            r = run("serve-a", "--listen", "127.0.0.1:%d" % port)
        err = r.stderr.decode()
        self.assertEqual(r.returncode, 1, err)
        self.assertEqual(err.count("\n"), 1, err)
        self.assertIn("listen 127.0.0.1:%d: Address already in use" % port, err)

    def test_address_not_available_exits_1(self):
        r = run("serve-a", "--listen", "192.0.2.1:0")  # TEST-NET-1: not on this host
        err = r.stderr.decode()
        self.assertEqual(r.returncode, 1, err)
        self.assertIn("listen 192.0.2.1:0: Cannot assign requested address", err)

    def test_env_beats_default_flag_beats_env(self):
        env = {"ECHOSVC_MAX_MSG_BYTES": "2", "ECHOSVC_LISTEN": "127.0.0.1:1"}
        a = self.start("serve-a", env=env)  # the harness's --listen flag beats the env
        self.assertEqual(request(a.port, "/echo?msg=ab")[0], 200)
        self.assertEqual(request(a.port, "/echo?msg=abc")[0], 414)
        a = self.start("serve-a", "--max-msg-bytes", "1", env=env)
        self.assertEqual(request(a.port, "/echo?msg=a")[0], 200)
        self.assertEqual(request(a.port, "/echo?msg=ab")[0], 414)


class Probe(TestCase):
    """`echosvc probe URL`, the health check of the image and the manifests."""

    def test_exit_status_follows_the_answer(self):
        a = self.start("serve-a")
        r = run("probe", a.base + "/readyz")
        self.assertEqual((r.returncode, r.stdout.decode()), (0, a.base + "/readyz: 200\n"))
        # a 404 is an answer, but not a healthy one
        r = run("probe", a.base + "/nowhere")
        self.assertEqual(r.returncode, 1)
        self.assertIn("status 404", r.stderr.decode())
        broken = self.fake("500")
        r = run("probe", broken.base + "/readyz")
        self.assertEqual(r.returncode, 1)
        self.assertIn("status 500", r.stderr.decode())
        r = run("probe", "http://127.0.0.1:%d/readyz" % free_port())
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stderr.decode(), r"^echosvc probe: http://127\.0\.0\.1:\d+/readyz: .*connect")

    def test_without_a_url_it_probes_the_service_its_environment_configures(self):
        # the image's HEALTHCHECK and the manifests' exec probes: one line for
        # A and B, each at its own ECHOSVC_LISTEN, a wildcard host made loopback
        a = self.start("serve-a", listen="0.0.0.0:0")
        r = run("probe", env={"ECHOSVC_LISTEN": "0.0.0.0:%d" % a.port})
        self.assertEqual((r.returncode, r.stdout.decode()),
                         (0, "http://127.0.0.1:%d/readyz: 200\n" % a.port))
        a.stop()
        r = run("probe", env={"ECHOSVC_LISTEN": "0.0.0.0:%d" % a.port})
        self.assertEqual(r.returncode, 1)
        # with TLS, https to its own port: whether it answers, not who it is
        workdir = tempfile.mkdtemp(prefix="echosvc-probe-")
        self.addCleanup(shutil.rmtree, workdir, True)
        pki = Pki(workdir)
        tls = self.start("serve-a", "--tls-cert", pki.other_host[0], "--tls-key", pki.other_host[1])
        env = {"ECHOSVC_LISTEN": "127.0.0.1:%d" % tls.port, "ECHOSVC_TLS_CERT": pki.other_host[0]}
        r = run("probe", env=env)
        self.assertEqual((r.returncode, r.stdout.decode()),
                         (0, "https://127.0.0.1:%d/readyz: 200\n" % tls.port))
        # a URL given is checked like any client's: this certificate names another host
        r = run("probe", "https://127.0.0.1:%d/readyz" % tls.port, "--ca", pki.ca[0])
        self.assertEqual(r.returncode, 1)

    def test_a_silent_server_fails_the_probe_at_its_timeout(self):
        silent = self.fake("never")
        started = time.monotonic()
        r = run("probe", silent.base + "/readyz", "--timeout-ms", "300", timeout=30 * TIME_SCALE)
        took = time.monotonic() - started
        self.assertEqual(r.returncode, 1)
        self.assertIn("imed out", r.stderr.decode())
        self.assertGreaterEqual(took, 0.3)
        self.assertLess(took, 0.3 + 5 * TIME_SCALE)

    def test_usage_errors_exit_2(self):
        r = run("probe", env={"ECHOSVC_LISTEN": "nonsense"})
        self.assertEqual(r.returncode, 2)
        self.assertIn("ECHOSVC_LISTEN is not HOST:PORT: nonsense", r.stderr.decode())
        for args, says in (
                           (["probe", "ftp://x/"], "must start with http"),
                           (["probe", "http://x/", "--timeout-ms", "0"], "1 to 600000"),
                           (["probe", "http://x/", "--timeout-ms"], "missing value"),
                           (["probe", "http://x/", "http://y/"], "one URL only"),
                           (["probe", "http://x/", "--bogus"], "unknown option")):
            r = run(*args)
            self.assertEqual(r.returncode, 2, args)
            self.assertIn(says, r.stderr.decode(), args)
            self.assertEqual(len(r.stderr.decode().splitlines()), 1, args)


if __name__ == "__main__":
    main()
