"""pki.py - real certificates made with openssl for the TLS tests and the TLS benchmark.

Pki(dir) makes, once: a CA; a server certificate for 127.0.0.1 and localhost (and
a second one with another serial, for reload); a client certificate; an expired
server certificate; one for another host name; one from another CA. Each is
a (cert, key) pair of PEM file names.
"""
import os
import subprocess


def _openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True, capture_output=True,
                   timeout=60)


class Pki:
    SERVER_SAN = "subjectAltName=IP:127.0.0.1,DNS:localhost"

    def __init__(self, directory):
        self.dir = directory
        self.ca = self._ca("ca", "echosvc test CA")
        self.other_ca = self._ca("other-ca", "another CA")
        self.server = self._leaf("server", "localhost", self.SERVER_SAN, self.ca)
        self.server2 = self._leaf("server2", "localhost", self.SERVER_SAN, self.ca)
        self.client = self._leaf("client", "echosvc-b", None, self.ca)
        self.other_client = self._leaf("other-client", "echosvc-b", None, self.other_ca)
        self.expired = self._leaf("expired", "localhost", self.SERVER_SAN, self.ca, expired=True)
        self.other_host = self._leaf("other-host", "other.example",
                                     "subjectAltName=DNS:other.example", self.ca)
        self.other_ca_server = self._leaf("other-ca-server", "localhost", self.SERVER_SAN,
                                          self.other_ca)

    def path(self, name):
        return os.path.join(self.dir, name)

    def _ca(self, name, cn):
        _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", name + ".key",
                 "-out", name + ".pem", "-days", "7", "-subj", "/CN=" + cn, cwd=self.dir)
        return self.path(name + ".pem"), self.path(name + ".key")

    def _leaf(self, name, cn, san, ca, expired=False):
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", name + ".key", "-out",
                 name + ".csr", "-subj", "/CN=" + cn, cwd=self.dir)
        ext = []
        if san is not None:
            with open(self.path(name + ".ext"), "w") as f:
                f.write(san + "\n")
            ext = ["-extfile", name + ".ext"]
        if expired:
            self._sign_expired(name, ca, ext)
        else:
            _openssl("x509", "-req", "-in", name + ".csr", "-CA", ca[0], "-CAkey", ca[1],
                     "-CAcreateserial", "-out", name + ".pem", "-days", "7", *ext, cwd=self.dir)
        return self.path(name + ".pem"), self.path(name + ".key")

    def _sign_expired(self, name, ca, ext):
        """A certificate valid for one day in 2020. `openssl ca` takes explicit
        dates on OpenSSL 3.0 (Debian 12) and 3.5 (Debian 13) alike; `x509 -days
        -1` is refused by 3.5 ("end date before start date")."""
        with open(self.path("expired-ca.cnf"), "w") as f:
            f.write("[ca]\ndefault_ca = ca_default\n[ca_default]\ndatabase = expired-index.txt\n"
                    "new_certs_dir = .\nserial = expired-serial\ndefault_md = sha256\n"
                    "policy = policy_any\nunique_subject = no\n"
                    "[policy_any]\ncommonName = supplied\n")
        open(self.path("expired-index.txt"), "w").close()
        with open(self.path("expired-serial"), "w") as f:
            f.write("1000\n")
        _openssl("ca", "-batch", "-config", "expired-ca.cnf", "-cert", ca[0], "-keyfile", ca[1],
                 "-in", name + ".csr", "-out", name + ".pem", "-notext",
                 "-startdate", "20200101000000Z", "-enddate", "20200102000000Z", *ext,
                 cwd=self.dir)

    def serial(self, cert):
        out = subprocess.run(["openssl", "x509", "-in", cert, "-noout", "-serial"],
                             check=True, capture_output=True, timeout=30).stdout.decode()
        return out.strip().split("=", 1)[1]
