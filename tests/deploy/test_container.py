"""The container image and the deploy files that use it, run for real with podman: the image
from deploy/container/Containerfile is at most 30 MB, runs as a non-root user, serves A and B
(B calling A), reports healthy through its own HEALTHCHECK and drains on `podman stop`;
`podman kube play` runs deploy/kubernetes/echosvc-podman.yaml as shipped (B reaches A's pods
by name, the probes pass); podman-compose runs deploy/compose.yaml. Needs root and podman (CI
installs them); skips, saying why, elsewhere. No registry is reachable: debian:bookworm-slim
is made by deploy/container/make-base-image when missing."""
import json
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
from podman_run import Podman  # noqa: E402

IMAGE = "localhost/echosvc:latest"
IMAGE_MAX_BYTES = 30 * 1000 * 1000  # "30 MB" as podman counts it
PODMAN_MANIFEST = os.path.join(ROOT, "deploy", "kubernetes", "echosvc-podman.yaml")
COMPOSE = os.path.join(ROOT, "deploy", "compose.yaml")


def why_not():
    if shutil.which("debootstrap") is None:
        return "debootstrap is not installed"
    return capability.podman()


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
        cls.podman.run([os.path.join(ROOT, "deploy", "container", "make-base-image"),
                        "bookworm"], timeout=900)
        started = time.monotonic()
        # --format docker: the OCI format drops HEALTHCHECK
        cls.podman("build", "--format", "docker", "--network", "host", "-f",
                   os.path.join(ROOT, "deploy", "container", "Containerfile"), "-t", IMAGE,
                   ROOT, timeout=1200)
        print("image built in %.0f s" % (time.monotonic() - started))

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.workdir, ignore_errors=True)

    def assertHealthy(self, container):
        """One run of the container's health check (podman runs them on a systemd
        timer, which a test machine may not have), and the state it recorded."""
        r = self.podman("healthcheck", "run", container, check=False)
        self.assertEqual(r.returncode, 0, "%s: %s%s" % (container, r.stdout, r.stderr))
        self.assertEqual(self.podman("inspect", "--format", "{{.State.Health.Status}}",
                                     container).stdout.strip(), "healthy", container)

    def run_container(self, name, role, port, *env):
        args = ["run", "-d", "--network", "host", "--name", name,
                "-e", "ECHOSVC_LISTEN=127.0.0.1:%d" % port]
        for e in env:
            args += ["-e", e]
        self.podman(*args, IMAGE, role)
        self.addCleanup(self.podman, "rm", "-f", "-t", "0", name, check=False)

    def test_image_is_small_and_checks_its_own_health(self):
        size = int(self.podman("image", "inspect", "--format", "{{.Size}}", IMAGE).stdout)
        print("image size: %d bytes (%.1f MB)" % (size, size / 1e6))
        self.assertLessEqual(size, IMAGE_MAX_BYTES)
        check = json.loads(self.podman("image", "inspect", "--format",
                                       "{{json .Config.Healthcheck}}", IMAGE).stdout)
        # exec form: the binary itself, no shell and no curl
        self.assertEqual(check["Test"][:3], ["CMD", "/usr/local/bin/echosvc", "probe"])
        self.assertEqual(self.podman("image", "inspect", "--format", "{{.Config.User}}",
                                     IMAGE).stdout.strip(), "10001:10001")

    def test_image_serves_both_roles_as_non_root_and_drains(self):
        tag = secrets.token_hex(3)
        pa, pb = free_port(), free_port()
        self.run_container("ec-a-" + tag, "serve-a", pa)
        self.run_container("ec-b-" + tag, "serve-b", pb, "ECHOSVC_SERVICE_A=http://127.0.0.1:%d" % pa)
        status, _, body = wait_answer(pb, "/call-echo?msg=container")
        self.assertEqual((status, body),
                         (200, b'{"service_a":{"echo":"container"},"service_b":"ok"}\n'))
        # the image's HEALTHCHECK finds each role at its own ECHOSVC_LISTEN
        for name in ("ec-a-" + tag, "ec-b-" + tag):
            self.assertHealthy(name)
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

    def test_kube_play_runs_the_podman_manifest_as_shipped(self):
        # the documented commands: a network whose DNS names the pods, then the file
        network = "echosvc-" + secrets.token_hex(3)
        self.podman("network", "create", network)
        self.addCleanup(self.podman, "network", "rm", "-f", network, check=False)
        self.podman("kube", "play", "--network", network, PODMAN_MANIFEST, timeout=300)
        self.addCleanup(self.podman, "kube", "down", PODMAN_MANIFEST, check=False, timeout=120)
        a_addresses = self.pod_addresses("echosvc-a", 3)
        b_addresses = self.pod_addresses("echosvc-b", 2)
        for b_address in b_addresses:
            replicas = set()
            for i in range(3):  # round-robin over the three A pods, each by its name
                status, _, body = wait_answer_at(b_address, 8081, "/call-echo?msg=kube%d" % i)
                self.assertEqual((status, body), (200, (
                    '{"service_a":{"echo":"kube%d"},"service_b":"ok"}\n' % i).encode()))
                self.assertEqual(request(8081, "/readyz", host=b_address)[0], 200)
            logs = self.podman("logs", "%s-echosvc" % self.pod_name(b_address)).stderr
            replicas = set(re.findall(r"replica=http://(echosvc-a-pod-\d):8080", logs))
            self.assertEqual(replicas, {"echosvc-a-pod-0", "echosvc-a-pod-1", "echosvc-a-pod-2"})
        for a_address in a_addresses:
            self.assertEqual(request(8080, "/readyz", host=a_address)[0], 200)
        # the manifest's probes, as podman runs them (a health check per container)
        for pod in ["echosvc-a-pod-%d" % i for i in range(3)] + ["echosvc-b-pod-%d" % i
                                                                for i in range(2)]:
            self.assertHealthy(pod + "-echosvc")

    def pod_name(self, address):
        for pod in self.podman("pod", "ps", "--format", "{{.Name}}").stdout.split():
            infra = self.podman("pod", "inspect", "--format", "{{.InfraContainerID}}",
                                pod).stdout.strip()
            if self.podman("inspect", "--format",
                           "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
                           infra).stdout.strip() == address:
                return pod
        raise AssertionError("no pod has address %s" % address)

    @unittest.skipIf(shutil.which("podman-compose") is None,
                     "podman-compose (Debian package podman-compose) is not installed")
    def test_compose_file_runs_the_pair(self):
        project = "echosvc" + secrets.token_hex(3)
        port = free_port()
        env = dict(self.podman.env, ECHOSVC_B_PORT=str(port))

        def compose(*args, check=True):
            r = subprocess.run(["podman-compose", "-p", project, "-f", COMPOSE] + list(args),
                               capture_output=True, text=True, timeout=300, env=env)
            if check and r.returncode != 0:
                raise AssertionError("podman-compose %s: %s%s" % (" ".join(args), r.stdout,
                                                                  r.stderr))
            return r
        compose("up", "-d")
        self.addCleanup(compose, "down", "-t", "5", check=False)
        status, _, body = wait_answer(port, "/call-echo?msg=compose")
        self.assertEqual((status, body),
                         (200, b'{"service_a":{"echo":"compose"},"service_b":"ok"}\n'))
        names = self.podman("ps", "--format", "{{.Names}}", "--filter",
                            "label=io.podman.compose.project=" + project).stdout.split()
        self.assertEqual(len(names), 2, names)
        for name in names:
            self.assertHealthy(name)
        # B found A by its service name
        b = self.podman("ps", "--format", "{{.Names}}", "--filter",
                        "label=io.podman.compose.project=" + project, "--filter",
                        "label=com.docker.compose.service=b").stdout.split()
        self.assertEqual(len(b), 1, names)
        self.assertIn("replica=http://a:8080", self.podman("logs", b[0]).stderr)

if __name__ == "__main__":
    main()
