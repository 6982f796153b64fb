"""`FakeBitrix24`'s OAuth server over real HTTP on 127.0.0.1, for a backend running in another process.

The backend reaches it through BITRIX24_OAUTH_SERVER (`server.url`). Answers can be delayed (`latency`, seconds)
or held until `release()` (`hang()`): a slow or unreachable Bitrix24, as the benchmark and the fault tests need.
Used by `bench/run.py` and `tests/test_load_and_faults.py`.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.support.fake_bitrix24 import OAUTH_SERVER, FakeBitrix24

# A held request is answered after this long at the latest, so a forgotten `release()` cannot keep threads alive.
MAX_HANG_SECONDS = 30.0


class FakeBitrix24Server:
    def __init__(self, fake: FakeBitrix24 | None = None, latency: float = 0.0) -> None:
        self.fake = fake or FakeBitrix24()
        self.latency = latency
        self._released = threading.Event()
        self._released.set()
        self._lock = threading.Lock()
        self.waiting = 0  # requests received and not yet answered
        self._httpd = _QuietHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="fake-bitrix24", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

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

    def answer(self, method: str, path: str, body: bytes | None) -> tuple[int, bytes]:
        with self._lock:
            self.waiting += 1
        try:
            if self.latency:
                time.sleep(self.latency)
            self._released.wait(MAX_HANG_SECONDS)
            status, payload = self.fake.answer(method, OAUTH_SERVER + path, body)
        finally:
            with self._lock:
                self.waiting -= 1
        return status, json.dumps(payload).encode()

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
        """A backend that gave up waiting (its timeout) closes the connection: not worth a traceback."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def _handler_for(server: FakeBitrix24Server) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            status, payload = server.answer(self.command, self.path, body)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = _serve  # noqa: N815 - http.server's naming

        def log_message(self, format: str, *args) -> None:  # no per-request line on stderr
            pass

    return Handler
