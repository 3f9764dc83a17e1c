"""The container image and the Kubernetes manifests, run for real with podman: the image from
deploy/container/Containerfile runs as a non-root user, serves A and B (B calling A) and
drains on `podman stop`; `podman kube play` runs deploy/kubernetes/echosvc.yaml and a request
to B is answered through A. Needs root and podman (CI installs it); skips, saying why,
elsewhere. No registry is reachable: debian:bookworm-slim is made with debootstrap when
missing."""
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
from harness import free_port, request  # noqa: E402

IMAGE = "localhost/echosvc:latest"
CONF = """[containers]
default_ulimits = []
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
"""


def why_not():
    if os.geteuid() != 0:
        return "needs root for podman's storage and networks"
    for tool in ("podman", "debootstrap"):
        if shutil.which(tool) is None:
            return "%s is not installed" % tool
    return None


class Podman:
    def __init__(self, workdir):
        self.env = dict(os.environ, CONTAINERS_CONF=os.path.join(workdir, "containers.conf"))
        with open(self.env["CONTAINERS_CONF"], "w") as f:
            f.write(CONF)

    def __call__(self, *args, timeout=120, check=True, **kw):
        r = subprocess.run(["podman"] + list(args), capture_output=True, text=True,
                           timeout=timeout, env=self.env, **kw)
        if check and r.returncode != 0:
            raise AssertionError("podman %s: %s%s" % (" ".join(args), r.stdout, r.stderr))
        return r


def wait_answer(port, path, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        try:
            return request(port, path, timeout=5)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@unittest.skipIf(why_not() is not None, why_not() or "")
class Container(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.workdir = tempfile.mkdtemp(prefix="echosvc-podman-")
        cls.podman = Podman(cls.workdir)
        if cls.podman("image", "exists", "debian:bookworm-slim", check=False).returncode != 0:
            rootfs = os.path.join(cls.workdir, "rootfs")
            subprocess.run(["debootstrap", "--variant=minbase", "bookworm", rootfs,
                            "http://deb.debian.org/debian"], check=True, capture_output=True,
                           timeout=900)
            tar = subprocess.Popen(["tar", "-C", rootfs, "-c", "."], stdout=subprocess.PIPE)
            cls.podman("import", "--change",
                       "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                       "-", "debian:bookworm-slim", stdin=tar.stdout, timeout=600)
            tar.wait()
            shutil.rmtree(rootfs, ignore_errors=True)
        started = time.monotonic()
        cls.podman("build", "--network", "host", "-f",
                   os.path.join(ROOT, "deploy", "container", "Containerfile"), "-t", IMAGE,
                   ROOT, timeout=1200)
        print("image built in %.0f s" % (time.monotonic() - started))

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.workdir, ignore_errors=True)

    def run_container(self, name, role, port, *env):
        args = ["run", "-d", "--network", "host", "--name", name,
                "-e", "ECHOSVC_LISTEN=127.0.0.1:%d" % port]
        for e in env:
            args += ["-e", e]
        self.podman(*args, IMAGE, role)
        self.addCleanup(self.podman, "rm", "-f", "-t", "0", name, check=False)

    def test_image_serves_both_roles_as_non_root_and_drains(self):
        tag = secrets.token_hex(3)
        pa, pb = free_port(), free_port()
        self.run_container("ec-a-" + tag, "serve-a", pa)
        self.run_container("ec-b-" + tag, "serve-b", pb, "ECHOSVC_SERVICE_A=http://127.0.0.1:%d" % pa)
        status, _, body = wait_answer(pb, "/call-echo?msg=container")
        self.assertEqual((status, body),
                         (200, b'{"service_a":{"echo":"container"},"service_b":"ok"}\n'))
        for name in ("ec-a-" + tag, "ec-b-" + tag):
            pid = self.podman("inspect", "--format", "{{.State.Pid}}", name).stdout.strip()
            with open("/proc/%s/status" % pid) as f:
                uid = re.search(r"^Uid:\s+(\d+)", f.read(), re.M).group(1)
            self.assertEqual(uid, "10001", name)
        # podman stop sends SIGTERM (the image's STOPSIGNAL): a drain, exit 0
        self.podman("stop", "-t", "20", "ec-b-" + tag)
        code = self.podman("inspect", "--format", "{{.State.ExitCode}}", "ec-b-" + tag).stdout
        self.assertEqual(code.strip(), "0")
        logs = self.podman("logs", "ec-b-" + tag).stderr + self.podman("logs", "ec-b-" + tag).stdout
        self.assertIn("event=shutdown", logs)

    def test_kube_play_answers_b_through_a(self):
        # podman has no Services: the pods share the host's network, and B is
        # pointed at A's port there instead of at the Service's name
        with open(os.path.join(ROOT, "deploy", "kubernetes", "echosvc.yaml")) as f:
            manifest = f.read()
        for port in (8080, 8081):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    self.skipTest("port %d is taken on this machine" % port)
        manifest = manifest.replace("http://echosvc-a:8080", "http://127.0.0.1:8080")
        path = os.path.join(self.workdir, "echosvc.yaml")
        with open(path, "w") as f:
            f.write(manifest)
        self.podman("kube", "play", "--network", "host", path, timeout=300)
        self.addCleanup(self.podman, "kube", "down", path, check=False, timeout=120)
        status, _, body = wait_answer(8081, "/call-echo?msg=kube")
        self.assertEqual((status, body), (200, b'{"service_a":{"echo":"kube"},"service_b":"ok"}\n'))
        self.assertEqual(request(8080, "/readyz")[0], 200)
        self.assertEqual(request(8081, "/health")[0], 200)


if __name__ == "__main__":
    unittest.main(verbosity=2)
