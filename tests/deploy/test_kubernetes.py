"""The Kubernetes manifests hold together: probe paths the binary serves, grace above drain +
delay, ports that agree with the options, A's Service where B looks for it, non-root,
read-only root, requests and limits, scrape annotations, disruption budgets that match."""
import os
import sys
import unittest
import urllib.parse

import yaml

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
from harness import Service, main, request  # noqa: E402

MANIFEST = os.path.join(os.path.dirname(__file__), "..", "..", "deploy", "kubernetes",
                        "echosvc.yaml")
PODMAN_MANIFEST = os.path.join(os.path.dirname(MANIFEST), "echosvc-podman.yaml")


class Manifests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with open(MANIFEST) as f:
            cls.docs = [d for d in yaml.safe_load_all(f) if d]
        cls.by_kind = {}
        for d in cls.docs:
            cls.by_kind.setdefault(d["kind"], {})[d["metadata"]["name"]] = d

    def container(self, name):
        spec = self.by_kind["Deployment"][name]["spec"]["template"]["spec"]
        self.assertEqual(len(spec["containers"]), 1)
        return spec, spec["containers"][0]

    def env(self, container):
        return {e["name"]: e["value"] for e in container.get("env", [])}

    def test_kinds(self):
        self.assertEqual(set(self.by_kind["Deployment"]), {"echosvc-a", "echosvc-b"})
        self.assertEqual(set(self.by_kind["Service"]), {"echosvc-a", "echosvc-b"})
        self.assertEqual(set(self.by_kind["PodDisruptionBudget"]), {"echosvc-a", "echosvc-b"})
        self.assertEqual(self.by_kind["Deployment"]["echosvc-a"]["spec"]["replicas"], 3)
        self.assertEqual(self.by_kind["Deployment"]["echosvc-b"]["spec"]["replicas"], 2)

    def test_grace_above_drain_and_delay(self):
        for name in ("echosvc-a", "echosvc-b"):
            spec, c = self.container(name)
            env = self.env(c)
            needed_ms = int(env.get("ECHOSVC_DRAIN_MS", "5000")) + \
                int(env.get("ECHOSVC_SHUTDOWN_DELAY_MS", "0"))
            self.assertGreater(spec["terminationGracePeriodSeconds"] * 1000, needed_ms)
            # endpoints need a few seconds to drop a pod that turned unready
            self.assertGreaterEqual(int(env["ECHOSVC_SHUTDOWN_DELAY_MS"]),
                                    2 * c["readinessProbe"]["periodSeconds"] * 1000)

    def test_ports_agree_with_the_options(self):
        for name, role in (("echosvc-a", "A"), ("echosvc-b", "B")):
            spec, c = self.container(name)
            listen = self.env(c)["ECHOSVC_LISTEN"]
            host, _, port = listen.rpartition(":")
            self.assertEqual(host, "0.0.0.0")
            ports = {p["name"]: p["containerPort"] for p in c["ports"]}
            self.assertEqual(list(ports.values()), [int(port)])
            for probe in ("livenessProbe", "readinessProbe"):
                self.assertIn(c[probe]["httpGet"]["port"], ports)
            annotations = self.by_kind["Deployment"][name]["spec"]["template"]["metadata"][
                "annotations"]
            self.assertEqual(annotations["prometheus.io/scrape"], "true")
            self.assertEqual(int(annotations["prometheus.io/port"]), int(port))
            self.assertEqual(annotations["prometheus.io/path"], "/metrics")
            svc = self.by_kind["Service"][name]
            self.assertEqual(svc["spec"]["ports"][0]["targetPort"], list(ports)[0])
            self.assertEqual(svc["spec"]["selector"],
                             self.by_kind["Deployment"][name]["spec"]["selector"]["matchLabels"])
            pdb = self.by_kind["PodDisruptionBudget"][name]
            self.assertEqual(pdb["spec"]["selector"]["matchLabels"], svc["spec"]["selector"])
            self.assertLess(pdb["spec"]["minAvailable"],
                            self.by_kind["Deployment"][name]["spec"]["replicas"])

    def test_b_calls_a_through_its_service(self):
        _, c = self.container("echosvc-b")
        url = urllib.parse.urlsplit(self.env(c)["ECHOSVC_SERVICE_A"])
        a_service = self.by_kind["Service"][url.hostname]
        self.assertEqual(url.port, a_service["spec"]["ports"][0]["port"])

    def test_locked_down(self):
        for name in ("echosvc-a", "echosvc-b"):
            spec, c = self.container(name)
            self.assertTrue(spec["securityContext"]["runAsNonRoot"])
            self.assertNotEqual(spec["securityContext"]["runAsUser"], 0)
            self.assertTrue(c["securityContext"]["readOnlyRootFilesystem"])
            self.assertFalse(c["securityContext"]["allowPrivilegeEscalation"])
            self.assertEqual(c["securityContext"]["capabilities"]["drop"], ["ALL"])
            for kind in ("requests", "limits"):
                self.assertEqual(set(c["resources"][kind]), {"cpu", "memory"})

    def test_the_podman_variant_differs_only_where_podman_cannot_follow(self):
        """echosvc-podman.yaml is echosvc.yaml but for what podman cannot do:
        Services (B lists A's pods by name), containerPorts, httpGet probes
        (exec `echosvc probe` of the same URL), disruption budgets."""
        with open(PODMAN_MANIFEST) as f:
            podman = {d["metadata"]["name"]: d for d in yaml.safe_load_all(f) if d}
        self.assertEqual({d["kind"] for d in podman.values()}, {"Deployment"})
        self.assertEqual(set(podman), set(self.by_kind["Deployment"]))
        for name, deployment in self.by_kind["Deployment"].items():
            kube = yaml.safe_load(yaml.safe_dump(deployment))  # a copy to change
            kc = kube["spec"]["template"]["spec"]["containers"][0]
            pc = podman[name]["spec"]["template"]["spec"]["containers"][0]
            port = kc.pop("ports")[0]["containerPort"]
            self.assertNotIn("ports", pc)
            for probe in ("livenessProbe", "readinessProbe"):
                http = kc[probe].pop("httpGet")
                self.assertEqual(pc[probe].pop("exec")["command"], [
                    "/usr/local/bin/echosvc", "probe",
                    "http://127.0.0.1:%d%s" % (port, http["path"])])
            kube_env, podman_env = self.env(kc), self.env(pc)
            if "ECHOSVC_SERVICE_A" in kube_env:
                url = urllib.parse.urlsplit(kube_env.pop("ECHOSVC_SERVICE_A"))
                a = self.by_kind["Deployment"][url.hostname]
                self.assertEqual(podman_env.pop("ECHOSVC_SERVICE_A"), ",".join(
                    "http://%s-pod-%d:%d" % (url.hostname, i, url.port)
                    for i in range(a["spec"]["replicas"])))
            self.assertEqual(kube_env, podman_env, name)
            kc.pop("env")
            pc.pop("env")
            self.assertEqual(kube, podman[name], name)

    def test_the_binary_serves_the_probes_with_this_environment(self):
        for name, role in (("echosvc-a", "serve-a"), ("echosvc-b", "serve-b")):
            _, c = self.container(name)
            env = dict(self.env(c), ECHOSVC_LISTEN="127.0.0.1:0")
            self.assertEqual(c["args"], [role])
            svc = Service([role], env=env, listen=None)
            try:
                for probe in ("livenessProbe", "readinessProbe"):
                    path = c[probe]["httpGet"]["path"]
                    self.assertEqual(request(svc.port, path)[0], 200, path)
            finally:
                svc.stop()
                os.unlink(svc.logfile.name)


if __name__ == "__main__":
    main()
