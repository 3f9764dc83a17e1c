"""capability.py - whether this machine can do what a suite needs, checked by doing it.

Each function returns None when the capability works, or the reason it does not,
for unittest.skipIf: a tool that is installed but cannot work here (a chroot whose
root is not a mount point, a container without namespaces) is a skip with its
reason, never a failure and never a pass. The results are cached per process.
"""
import functools
import os
import shutil
import subprocess
import tempfile

_TINY_C = "int main(void) { return 0; }\n"
# podman's configuration for the tests: runc, and cgroups without a systemd to ask
PODMAN_CONF = """[containers]
default_ulimits = []
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
"""


def _run(*cmd, timeout=120, **kw):
    return subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout, **kw)


def _tail(r):
    return (r.stderr or r.stdout).strip().splitlines()[-1:] or ["exit status %d" % r.returncode]


@functools.lru_cache(maxsize=None)
def network_namespaces():
    """Root, iproute2, and a namespace with a bridge in it that `ip netns
    exec` can enter (it remounts /sys and makes / a slave mount)."""
    if os.geteuid() != 0:
        return "needs root to make network namespaces"
    if shutil.which("ip") is None:
        return "ip (Debian package iproute2) is not installed"
    probe = "ecprobe%d" % os.getpid()
    r = _run("ip", "netns", "add", probe)
    if r.returncode != 0:
        return "cannot make a network namespace here: %s" % _tail(r)[0]
    try:
        for cmd in (["ip", "link", "add", "br0", "type", "bridge"], ["ip", "link", "set", "br0", "up"]):
            r = _run("ip", "netns", "exec", probe, *cmd)
            if r.returncode != 0:
                return "cannot use a network namespace here (%s): %s" % (" ".join(cmd), _tail(r)[0])
    finally:
        _run("ip", "netns", "del", probe)
    return None


@functools.lru_cache(maxsize=None)
def podman():
    """Root, podman, and a container that runs: a one-file image (a static
    program that exits 0) imported and run."""
    if os.geteuid() != 0:
        return "needs root for podman's storage and networks"
    for tool in ("podman", "cc"):
        if shutil.which(tool) is None:
            return "%s is not installed" % tool
    work = tempfile.mkdtemp(prefix="echosvc-podman-probe-")
    conf = os.path.join(work, "containers.conf")
    env = dict(os.environ, CONTAINERS_CONF=conf)
    try:
        with open(conf, "w") as f:
            f.write(PODMAN_CONF)
        with open(os.path.join(work, "true.c"), "w") as f:
            f.write(_TINY_C)
        r = _run("cc", "-static", "-o", os.path.join(work, "true"), os.path.join(work, "true.c"))
        if r.returncode != 0:
            return "cannot build a static probe program: %s" % _tail(r)[0]
        r = _run("tar", "-C", work, "-cf", os.path.join(work, "image.tar"), "true")
        if r.returncode != 0:
            return "cannot pack the probe image: %s" % _tail(r)[0]
        tag = "localhost/echosvc-probe:%d" % os.getpid()
        r = _run("podman", "import", os.path.join(work, "image.tar"), tag, env=env)
        if r.returncode != 0:
            return "podman cannot import an image here: %s" % _tail(r)[0]
        try:
            r = _run("podman", "run", "--rm", "--network", "none", tag, "/true", env=env)
            if r.returncode != 0:
                return "podman cannot run a container here: %s" % _tail(r)[0]
        finally:
            _run("podman", "rmi", "-f", tag, env=env)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return None


@functools.lru_cache(maxsize=None)
def systemd_analyze():
    """systemd-analyze, verifying a unit file of its own."""
    if shutil.which("systemd-analyze") is None:
        return "systemd-analyze (Debian package systemd) is not installed"
    work = tempfile.mkdtemp(prefix="echosvc-systemd-probe-")
    try:
        unit = os.path.join(work, "echosvc-probe.service")
        with open(unit, "w") as f:
            f.write("[Service]\nType=oneshot\nExecStart=/bin/true\n")
        r = _run("systemd-analyze", "verify", "--man=no", unit)
        if r.returncode != 0:
            return "systemd-analyze cannot verify a unit here: %s" % _tail(r)[0]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return None


@functools.lru_cache(maxsize=None)
def program(name, package):
    """A program that answers --version."""
    path = shutil.which(name)
    if path is None:
        return "%s (Debian package %s) is not installed" % (name, package)
    r = _run(path, "--version", timeout=60)
    if r.returncode != 0:
        return "%s does not run here: %s" % (name, _tail(r)[0])
    return None
