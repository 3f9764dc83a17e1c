"""systemd's readiness protocol against a real AF_UNIX datagram socket: READY=1 once
listening, STOPPING=1 when the drain starts, STATUS= lines; a path and an abstract address."""
import os
import signal
import socket
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from harness import READY_TIMEOUT, TestCase, main, request  # noqa: E402


class Notify(TestCase):
    def notify_socket(self, abstract):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(sock.close)
        if abstract:
            name = "@echosvc-test-%d-%d" % (os.getpid(), id(sock))
            sock.bind("\0" + name[1:])
        else:
            folder = tempfile.mkdtemp(prefix="echosvc-notify-")
            name = os.path.join(folder, "notify")
            sock.bind(name)
            self.addCleanup(os.rmdir, folder)
            self.addCleanup(os.unlink, name)
        sock.settimeout(READY_TIMEOUT)
        return sock, name

    def check_role(self, abstract, *args):
        sock, name = self.notify_socket(abstract)
        svc = self.start(*args, env={"NOTIFY_SOCKET": name})
        ready = sock.recv(4096).decode()
        lines = ready.split("\n")
        self.assertIn("READY=1", lines)
        self.assertIn("STATUS=serving on 127.0.0.1:%d" % svc.port, lines)
        # sent once every listening socket is open: a connection succeeds now
        self.assertEqual(request(svc.port, "/health")[0], 200)
        svc.send(signal.SIGTERM)
        stopping = sock.recv(4096).decode().split("\n")
        self.assertIn("STOPPING=1", stopping)
        self.assertTrue(any(l.startswith("STATUS=draining") for l in stopping), stopping)
        self.assertEqual(svc.proc.wait(10), 0)

    def test_path_socket_service_a(self):
        self.check_role(False, "serve-a", "--threads", "2")

    def test_abstract_socket_service_b(self):
        a = self.start("serve-a")
        self.check_role(True, "serve-b", "--service-a", a.base)

    def test_a_notify_socket_that_is_no_address_is_ignored(self):
        # only a path or an @name is an address; anything else must not stop the service
        a = self.start("serve-a", env={"NOTIFY_SOCKET": "relative/path"})
        self.assertEqual(request(a.port, "/health")[0], 200)
        self.assertEqual(a.stop(), 0)


if __name__ == "__main__":
    main()
