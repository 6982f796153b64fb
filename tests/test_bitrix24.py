"""Calls to Bitrix24 (main/bitrix24.py, main/b24sdk.py) against a slow or failing OAuth server, for real, on
127.0.0.1: the backend answers 504 or 502 JSON within
BITRIX24_TIMEOUT and BITRIX24_MAX_RETRIES, writes nothing, and logs no token. And a working one: `app.info` calls
share a kept-open connection (main/b24sdk.py).

What the SDK (b24pysdk 1.3) does, as these tests show: `timeout` applies to the connection and to each read
(a `requests` timeout, not a deadline for the whole answer); `max_retries` counts attempts and only a 503 answer is
tried again (after a 1 s pause); a timeout, a refused or dropped connection and any other status are not retried.
So one request costs at most about BITRIX24_TIMEOUT x BITRIX24_MAX_RETRIES plus the pauses. A timeout before the
answer starts is a 504; `requests` reports one in the middle of the body as a connection error, hence a 502. Not
bounded by the SDK: a server that keeps trickling bytes faster than the timeout (gunicorn's worker timeout is the
backstop there).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from main.models import Bitrix24Account
from tests.support.fake_bitrix24 import OAUTH_SERVER, FakeBitrix24
from tests.support.invariants import assert_refused, rows

pytestmark = pytest.mark.django_db

TIMEOUT = 1.0
MAX_RETRIES = 2
# The longest a refused request may take: every attempt timing out, plus the SDK's pauses and slack for a slow CI.
BOUND = TIMEOUT * (MAX_RETRIES + 1) + 2.0
KEEP_ALIVE = 5.0


class RawServer:
    """A TCP server on 127.0.0.1 whose `handle(connection)` decides what each connection gets."""

    def __init__(self, handle: Callable[[socket.socket], None]) -> None:
        self.handle = handle
        self.connections = 0
        self.open: list[socket.socket] = []  # connections the handler kept open, closed on `stop`
        self._socket = socket.create_server(("127.0.0.1", 0))
        self._socket.settimeout(0.05)  # so the accept loop notices `stop` (closing alone does not wake it)
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._socket.getsockname()[1]}"

    def _serve(self) -> None:
        while not self._stopped.is_set():
            try:
                connection, _ = self._socket.accept()
            except TimeoutError:
                continue
            connection.settimeout(None)
            self.connections += 1
            self.handle(connection)

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=5)
        self._socket.close()
        for connection in self.open:
            connection.close()


def _read_request(connection: socket.socket) -> str:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(65536)
        if not chunk:
            break
        data += chunk
    return data.decode("latin-1")


def _send(
    connection: socket.socket,
    status: int,
    body: bytes,
    content_type: str = "application/json",
    extra_headers: str = "Connection: close\r\n",
) -> None:
    """Answer, then close unless `extra_headers` leave out `Connection: close`."""
    head = f"HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n{extra_headers}"
    connection.sendall(head.encode() + b"\r\n" + body)
    if "Connection: close" in extra_headers:
        connection.close()


@pytest.fixture
def oauth_server(settings) -> Iterator[Callable[[Callable[[socket.socket], None]], RawServer]]:
    """Start a `RawServer`, point the SDK's OAuth calls at it, and use a short timeout; all undone afterwards."""
    settings.BITRIX24_TIMEOUT, settings.BITRIX24_MAX_RETRIES = TIMEOUT, MAX_RETRIES
    servers: list[RawServer] = []

    def start(handle: Callable[[socket.socket], None]) -> RawServer:
        server = RawServer(handle)
        servers.append(server)
        settings.BITRIX24_OAUTH_SERVER = server.url
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def placement() -> dict:
    fake = FakeBitrix24()
    return fake.placement(fake.grant())


def _get_token(client, placement: dict):
    started = time.monotonic()
    response = client.post("/api/getToken", placement, content_type="application/json")
    return response, time.monotonic() - started


def _assert_refused_in_time(response, elapsed: float, status: int, before, placement: dict, caplog) -> str:
    error = assert_refused(response, before, status, [placement["AUTH_ID"], placement["REFRESH_ID"]])
    assert elapsed < BOUND, f"took {elapsed:.1f} s"
    assert placement["AUTH_ID"] not in caplog.text
    return error


# --- Hanging and slow ------------------------------------------------------------------------------------


def test_oauth_server_that_never_answers_is_504_within_the_timeout(client, oauth_server, placement, caplog):
    server = oauth_server(lambda connection: server.open.append(connection))  # accept, read nothing, say nothing
    before = rows()

    response, elapsed = _get_token(client, placement)

    error = _assert_refused_in_time(response, elapsed, 504, before, placement, caplog)
    assert error == "Bitrix24 did not answer in time; try again later"
    assert elapsed >= TIMEOUT  # it did wait for the answer, then gave up
    assert server.connections == 1  # the SDK does not retry a timeout


def test_oauth_server_that_stalls_in_the_middle_of_its_answer_is_502(client, oauth_server, placement, caplog):
    # `requests` reports a read timeout inside the body as a connection error, so this is a 502, not a 504.
    def stall(connection: socket.socket) -> None:
        _read_request(connection)
        connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
        server.open.append(connection)

    server = oauth_server(stall)
    before = rows()

    response, elapsed = _get_token(client, placement)

    _assert_refused_in_time(response, elapsed, 502, before, placement, caplog)
    assert elapsed >= TIMEOUT


def test_slow_oauth_server_within_the_timeout_is_fine(client, oauth_server, placement):
    # The control case: the same real HTTP path, with a correct answer a little late, logs the user in.
    fake = FakeBitrix24()
    grant = fake.grant()
    placement = fake.placement(grant)

    def slow_but_correct(connection: socket.socket) -> None:
        path = _read_request(connection).split(" ")[1]
        time.sleep(TIMEOUT / 4)
        status, payload = fake.answer("GET", OAUTH_SERVER + path, None)
        _send(connection, status, json.dumps(payload).encode())

    oauth_server(slow_but_correct)

    response, _ = _get_token(client, placement)

    assert response.status_code == 200
    assert Bitrix24Account.objects.get().access_token == grant.access_token


# --- Failing -----------------------------------------------------------------------------------------------


def test_oauth_server_that_drops_the_connection_is_502(client, oauth_server, placement, caplog):
    server = oauth_server(lambda connection: connection.close())
    before = rows()

    response, elapsed = _get_token(client, placement)

    error = _assert_refused_in_time(response, elapsed, 502, before, placement, caplog)
    assert error == "Bitrix24 is not answering correctly; try again later"
    assert server.connections == 1


def test_oauth_server_that_refuses_connections_is_502(client, oauth_server, placement, caplog):
    server = oauth_server(lambda connection: connection.close())
    server.stop()  # the port is closed: connections are refused
    before = rows()

    response, elapsed = _get_token(client, placement)

    _assert_refused_in_time(response, elapsed, 502, before, placement, caplog)


@pytest.mark.parametrize(
    ("status", "body", "content_type"),
    [
        pytest.param(500, b'{"error": "INTERNAL_SERVER_ERROR"}', "application/json", id="500-json"),
        pytest.param(500, b"<html>Internal Server Error</html>", "text/html", id="500-html"),
        pytest.param(502, b"<html>Bad Gateway</html>", "text/html", id="502-html-from-a-proxy"),
        pytest.param(200, b"<html>maintenance</html>", "text/html", id="200-not-json"),
        pytest.param(200, b'{"result": {"client_id": 1}}', "application/json", id="200-json-of-the-wrong-shape"),
        pytest.param(200, b"[]", "application/json", id="200-json-array"),
        pytest.param(429, b'{"error": "QUERY_LIMIT_EXCEEDED"}', "application/json", id="429-rate-limited"),
    ],
)
def test_oauth_server_error_or_garbage_answer_is_502(
    client, oauth_server, placement, caplog, status, body, content_type
):
    def answer(connection: socket.socket) -> None:
        _read_request(connection)
        _send(connection, status, body, content_type)

    server = oauth_server(answer)
    before = rows()

    response, elapsed = _get_token(client, placement)

    _assert_refused_in_time(response, elapsed, 502, before, placement, caplog)
    assert server.connections == 1


def test_oauth_server_answering_503_is_tried_max_retries_times_then_502(client, oauth_server, placement, caplog):
    def unavailable(connection: socket.socket) -> None:
        _read_request(connection)
        _send(connection, 503, b'{"error": "QUERY_LIMIT_EXCEEDED"}')

    server = oauth_server(unavailable)
    before = rows()

    response, elapsed = _get_token(client, placement)

    _assert_refused_in_time(response, elapsed, 502, before, placement, caplog)
    assert server.connections == MAX_RETRIES


# --- Kept-open connections ---------------------------------------------------------------------------------


def _answer_on(connection: socket.socket, fake: FakeBitrix24, extra_headers: str = "") -> str:
    """Read one request from the connection and answer it as `fake` would, keeping the connection open."""
    request = _read_request(connection)
    status, payload = fake.answer("GET", OAUTH_SERVER + request.split(" ")[1], None)
    _send(connection, status, json.dumps(payload).encode(), extra_headers=extra_headers)
    return request


def _keep_answering(fake: FakeBitrix24, seen: list[str], extra_headers: str = "") -> Callable[[socket.socket], None]:
    """A handler that answers every request on a connection, in a thread of its own, until the client leaves or
    stays silent for KEEP_ALIVE seconds (a real server's keep-alive timeout)."""

    def handle(connection: socket.socket) -> None:
        def serve() -> None:
            connection.settimeout(KEEP_ALIVE)
            with connection:
                try:
                    while True:
                        seen.append(_answer_on(connection, fake, extra_headers))
                except (OSError, IndexError):  # the client closed the connection, or was silent
                    pass

        threading.Thread(target=serve, daemon=True).start()

    return handle


def _placements(fake: FakeBitrix24, count: int) -> list[dict]:
    return [fake.placement(fake.grant(user_id=n + 1)) for n in range(count)]


def test_new_placement_tokens_are_verified_over_one_kept_connection(client, oauth_server):
    fake, served = FakeBitrix24(), []
    server = oauth_server(_keep_answering(fake, served))

    statuses = [_get_token(client, placement)[0].status_code for placement in _placements(fake, 3)]

    assert statuses == [200, 200, 200]
    assert len(served) == 3
    assert server.connections == 1
    assert Bitrix24Account.objects.count() == 3


def test_connection_the_oauth_server_closed_is_replaced(client, oauth_server):
    # The server answers as if it kept the connection, then closes it (an idle timeout, a restart).
    fake = FakeBitrix24()

    def answer_then_close(connection: socket.socket) -> None:
        _answer_on(connection, fake)
        connection.close()

    server = oauth_server(answer_then_close)

    statuses = [_get_token(client, placement)[0].status_code for placement in _placements(fake, 2)]

    assert statuses == [200, 200]
    assert server.connections == 2


def test_cookies_the_oauth_server_sets_are_not_sent_with_later_calls(client, oauth_server):
    # One session serves every account of a thread: a cookie set for one account's call must not reach another's.
    fake, served = FakeBitrix24(), []
    oauth_server(_keep_answering(fake, served, "Set-Cookie: session=for-the-first-account; Path=/\r\n"))

    statuses = [_get_token(client, placement)[0].status_code for placement in _placements(fake, 2)]

    assert statuses == [200, 200]
    assert len(served) == 2
    assert "cookie:" not in served[1].lower()
