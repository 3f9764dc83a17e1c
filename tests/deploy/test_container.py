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
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import capability  # noqa: E402
from harness import free_port, main, request  # noqa: E402

IMAGE = "localhost/echosvc:latest"
CONF = capability.PODMAN_CONF


def why_not():
    if shutil.which("debootstrap") is None:
        return "debootstrap is not installed"
    return capability.podman()


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
    return wait_answer_at("127.0.0.1", port, path, timeout)


def wait_answer_at(host, port, path, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        try:
            return request(port, path, host=host, timeout=5)
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

    def pod_addresses(self, deployment, replicas):
        """The addresses of the pods podman made for a Deployment, one per replica."""
        pods = self.podman("pod", "ps", "--format", "{{.Name}}", "--filter",
                           "name=%s-pod" % deployment).stdout.split()
        self.assertEqual(len(pods), replicas, pods)
        addresses = []
        for pod in pods:
            infra = self.podman("pod", "inspect", "--format", "{{.InfraContainerID}}",
                                pod).stdout.strip()
            addresses.append(self.podman(
                "inspect", "--format",
                "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", infra).stdout.strip())
        return addresses

    def test_kube_play_answers_b_through_a(self):
        # podman runs one pod per Deployment and has no Services: A's pod is
        # played first, and B is pointed at its address instead of the
        # Service's name; the probes, security context and limits are kept
        with open(os.path.join(ROOT, "deploy", "kubernetes", "echosvc.yaml")) as f:
            docs = f.read().split("\n---\n")
        a_docs = [d for d in docs if "name: echosvc-a" in d and "kind: Deployment" in d]
        b_docs = [d for d in docs if "name: echosvc-b" in d and "kind: Deployment" in d]
        self.assertEqual((len(a_docs), len(b_docs)), (1, 1))
        # podman 4.3 publishes every containerPort on the host, which three
        # replicas cannot share: the ports are left out and the probes name
        # the port by number
        for i, (doc, port) in enumerate(((a_docs[0], 8080), (b_docs[0], 8081))):
            doc = re.sub(r"\n +ports:\n +- \{name: http, containerPort: \d+\}", "", doc)
            doc = doc.replace("port: http}", "port: %d}" % port)
            (a_docs if i == 0 else b_docs)[0] = doc
        paths = {name: os.path.join(self.workdir, "%s.yaml" % name) for name in ("a", "b")}
        with open(paths["a"], "w") as f:
            f.write(a_docs[0])
        self.podman("kube", "play", paths["a"], timeout=300)
        self.addCleanup(self.podman, "kube", "down", paths["a"], check=False, timeout=120)
        a_addresses = self.pod_addresses("echosvc-a", 3)
        # A's three replicas, as B's replicas
        with open(paths["b"], "w") as f:
            f.write(b_docs[0].replace("http://echosvc-a:8080", ",".join(
                "http://%s:8080" % a for a in a_addresses)))
        self.podman("kube", "play", paths["b"], timeout=300)
        self.addCleanup(self.podman, "kube", "down", paths["b"], check=False, timeout=120)
        b_addresses = self.pod_addresses("echosvc-b", 2)
        for b_address in b_addresses:
            for i in range(3):  # round-robin over the three A pods
                status, _, body = wait_answer_at(b_address, 8081, "/call-echo?msg=kube%d" % i)
                self.assertEqual((status, body), (200, (
                    '{"service_a":{"echo":"kube%d"},"service_b":"ok"}\n' % i).encode()))
            self.assertEqual(request(8081, "/readyz", host=b_address)[0], 200)
        for a_address in a_addresses:
            self.assertEqual(request(8080, "/readyz", host=a_address)[0], 200)


if __name__ == "__main__":
    main()
