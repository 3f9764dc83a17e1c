"""podman_run.py - commands as the deploy tests run them: podman with a containers.conf of
their own (capability.PODMAN_CONF: runc, cgroupfs, no default ulimits, as these machines
need), and every command's failure an AssertionError that shows its output."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import capability  # noqa: E402


class Podman:
    def __init__(self, workdir):
        self.env = dict(os.environ, CONTAINERS_CONF=os.path.join(workdir, "containers.conf"))
        with open(self.env["CONTAINERS_CONF"], "w") as f:
            f.write(capability.PODMAN_CONF)

    def run(self, args, timeout=120, check=True, **kw):
        """Any command (deploy/container/make-base-image, say) with podman's settings."""
        r = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout,
                           env=self.env, **kw)
        if check and r.returncode != 0:
            raise AssertionError("%s: exit %d\n%s%s" % (" ".join(args), r.returncode,
                                                        r.stdout[-3000:], r.stderr[-3000:]))
        return r

    def __call__(self, *args, timeout=120, check=True, **kw):
        return self.run(["podman"] + list(args), timeout=timeout, check=check, **kw)
