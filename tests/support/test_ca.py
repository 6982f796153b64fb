"""A certificate authority for tests, made with the `openssl` command line tool: the fake Bitrix24 serves HTTPS with
a certificate it issued, and the backend trusts it through REQUESTS_CA_BUNDLE, checking certificates as in
production. (The `openssl` tool keeps a Python TLS library, and the extra memory it would bring into the backend's
processes through PyJWT, out of the test environment: `make bench` measures the workers as production runs them.)
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
import tempfile
from pathlib import Path

DAYS = "2"


def _openssl(*args: str, cwd: Path) -> None:
    if shutil.which("openssl") is None:
        raise RuntimeError("the HTTPS tests need the openssl command line tool (Debian package openssl)")
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


class TestCA:
    """A new authority in a folder of its own: `bundle` is its certificate, for clients to trust."""

    __test__ = False  # not a test class, whatever pytest thinks of its name

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="test-ca-"))
        self.bundle = self.folder / "ca.pem"
        _openssl(
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", "ca.key", "-out", self.bundle.name, "-days", DAYS, "-subj", "/CN=Bitrix24 backend test CA",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            cwd=self.folder,
        )  # fmt: skip

    def server_context(self, *hosts: str) -> ssl.SSLContext:
        """A server's TLS context with a certificate of this authority for `hosts` (names, wildcards, IPs)."""
        names = ",".join(f"IP:{host}" if host.replace(".", "").isdigit() else f"DNS:{host}" for host in hosts)
        _openssl(
            "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "server.key",
            "-out", "server.csr", "-subj", f"/CN={hosts[0]}", cwd=self.folder,
        )  # fmt: skip
        (self.folder / "server.ext").write_text(f"subjectAltName={names}\nextendedKeyUsage=serverAuth\n")
        _openssl(
            "x509", "-req", "-in", "server.csr", "-CA", self.bundle.name, "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "server.pem", "-days", DAYS, "-extfile", "server.ext", cwd=self.folder,
        )  # fmt: skip
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.folder / "server.pem", self.folder / "server.key")
        return context

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
