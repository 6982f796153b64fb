"""`FakeBitrix24` over real HTTP or HTTPS on 127.0.0.1, for a backend in another process or thread.

Requests go by their Host header, as they would reach different machines: the server's own address (`url`) is
Bitrix24's OAuth server, where the backend finds it through BITRIX24_OAUTH_SERVER; any other host is a portal's
REST API (`FakeBitrix24.respond`, which also redirects a moved portal's old address).

- Plain HTTP (the default): the OAuth server for a backend in another process (`bench/run.py`,
  `tests/test_load_and_faults.py`).
- HTTPS (`ca`, a test certificate authority, tests/support/test_ca.py, that the client must trust, e.g. through
  REQUESTS_CA_BUNDLE): the
  certificate names CERTIFICATE_HOSTS. A portal with a port reaches the server directly (`portal_host`,
  `localhost:<port>`). A portal named like a cloud portal has no port: HTTPS then means port 443, which a test
  cannot listen on, so such names reach the server through `proxy_url`, an HTTP proxy whose CONNECT tunnels all
  end here (HTTPS_PROXY), with TLS inside the tunnel as with a real portal.

Answers can be delayed (`latency`, seconds) or held until `release()` (`hang()`): a slow or unreachable Bitrix24, as
the benchmark and the fault tests need.
"""

from __future__ import annotations

import socket
import ssl
import sys
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING

from tests.support.fake_bitrix24 import OAUTH_SERVER, FakeBitrix24

if TYPE_CHECKING:
    from tests.support.test_ca import TestCA

# A held request is answered after this long at the latest, so a forgotten `release()` cannot keep threads alive.
MAX_HANG_SECONDS = 30.0
# The names the HTTPS certificate is valid for: the loopback, and the cloud portals of tests/support/fake_bitrix24.py.
CERTIFICATE_HOSTS = ("localhost", "127.0.0.1", "*.bitrix24.com")
TLS_HANDSHAKE = b"\x16"  # the first byte a TLS client sends; a proxy client starts with "CONNECT"


class FakeBitrix24Server:
    def __init__(self, fake: FakeBitrix24 | None = None, latency: float = 0.0, ca: TestCA | None = None) -> None:
        self.fake = fake or FakeBitrix24()
        self.latency = latency
        self.tls: ssl.SSLContext | None = None
        if ca is not None:
            self.tls = ca.server_context(*CERTIFICATE_HOSTS)
        self._released = threading.Event()
        self._released.set()
        self._lock = threading.Lock()
        self.waiting = 0  # requests received and not yet answered
        self._httpd = _QuietHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="fake-bitrix24", daemon=True)

    @property
    def address(self) -> str:
        """`127.0.0.1:<port>`: the OAuth server's host."""
        host, port = self._httpd.server_address[:2]
        return f"{host}:{port}"

    @property
    def url(self) -> str:
        """The OAuth server (BITRIX24_OAUTH_SERVER)."""
        return f"{'https' if self.tls else 'http'}://{self.address}"

    @property
    def portal_host(self) -> str:
        """A portal's host with this server's port (a self-hosted portal's DOMAIN): `localhost:<port>`."""
        return f"localhost:{self._httpd.server_address[1]}"

    @property
    def proxy_url(self) -> str:
        """The HTTP proxy (HTTPS_PROXY) whose tunnels reach this server whatever host they name (HTTPS only)."""
        return f"http://{self.address}"

    def hang(self) -> None:
        """Hold every answer from now on until `release()` (at most MAX_HANG_SECONDS)."""
        self._released.clear()

    def release(self) -> None:
        self._released.set()

    def wait_for_waiting(self, count: int, timeout: float) -> bool:
        """Wait until at least `count` requests are being held or delayed; False if that did not happen in time."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.waiting >= count:
                return True
            time.sleep(0.01)
        return False

    def answer(self, method: str, host: str, path: str, body: bytes | None) -> tuple[int, dict[str, str], bytes]:
        """The answer to a request for `path` (with its query) on `host` (the request's Host header)."""
        with self._lock:
            self.waiting += 1
        try:
            if self.latency:
                time.sleep(self.latency)
            self._released.wait(MAX_HANG_SECONDS)
            url = OAUTH_SERVER + path if host == self.address else f"https://{host}{path}"
            status, headers, text = self.fake.respond(method, url, body)
        finally:
            with self._lock:
                self.waiting -= 1
        return status, headers, text.encode()

    def __enter__(self) -> FakeBitrix24Server:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.release()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


class _QuietHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        """A backend that gave up waiting (its timeout) closes the connection, and a client that does not trust the
        certificate ends the handshake: not worth a traceback, the client reports it."""
        if not isinstance(sys.exc_info()[1], ConnectionError | ssl.SSLError):
            super().handle_error(request, client_address)


def _handler_for(server: FakeBitrix24Server) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def setup(self) -> None:
            # With HTTPS, a connection that starts with a TLS handshake came straight here; one that does not is a
            # proxy client, whose CONNECT is read in plain text (`do_CONNECT`).
            if server.tls and self.request.recv(1, socket.MSG_PEEK) == TLS_HANDSHAKE:
                self.request = server.tls.wrap_socket(self.request, server_side=True)
            super().setup()

        def do_CONNECT(self) -> None:
            """Open the tunnel to whichever host was asked for: its TLS ends here, and its requests are served
            here as on a direct connection."""
            if server.tls is None:
                self.send_error(HTTPStatus.NOT_IMPLEMENTED)
                return
            self.send_response(HTTPStatus.OK)
            self.end_headers()
            self.request = server.tls.wrap_socket(self.connection, server_side=True)
            super().setup()  # reads and writes go through TLS from now on
            self.close_connection = False  # a CONNECT of HTTP/1.0 (http.client's) is no reason to end the tunnel

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            host = self.headers.get("Host", server.address)
            status, headers, payload = server.answer(self.command, host, self.path, body)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = _serve  # noqa: N815 - http.server's naming

        def log_message(self, format: str, *args) -> None:  # no per-request line on stderr
            pass

    return Handler
