"""A TCP forwarder on 127.0.0.1 that a test can cut or stall: a broker that goes away while the app holds a
connection to it, or stops answering without closing anything (a network partition), and comes back on the same
address. Used by tests/test_tasks.py.
"""

from __future__ import annotations

import selectors
import socket
import threading
from contextlib import suppress

_POLL_SECONDS = 0.05


class TcpProxy:
    """Forwards connections on `port` of 127.0.0.1 to `target` while it is up.

    `stop()` closes every connection and the listening socket (new connections are refused); `pause()` keeps them
    all open but forwards nothing, and holds new ones (until `stop()`); `start()` listens and forwards again.
    """

    def __init__(self, target: tuple[str, int], port: int) -> None:
        self.target = target
        self.port = port
        self._listener: socket.socket | None = None
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._flowing = threading.Event()
        self._flowing.set()

    def start(self) -> TcpProxy:
        listener = socket.create_server(("127.0.0.1", self.port))  # SO_REUSEADDR: the same port again at once
        self._flowing.set()
        with self._lock:
            self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), name="tcp-proxy", daemon=True).start()
        return self

    def stop(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            connections, self._connections = self._connections, set()
        for sock in (listener, *connections):
            if sock is not None:
                with suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def pause(self) -> None:
        self._flowing.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:  # stopped
                return
            with self._lock:
                if self._listener is not listener:
                    client.close()
                    return
                self._connections.add(client)
            threading.Thread(target=self._serve, args=(client,), name="tcp-proxy-pipe", daemon=True).start()

    def _open(self, sock: socket.socket) -> bool:
        with self._lock:
            return sock in self._connections

    def _serve(self, client: socket.socket) -> None:
        while not self._flowing.wait(_POLL_SECONDS):  # a paused proxy holds new connections too
            if not self._open(client):
                return
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            client.close()
            return
        with self._lock:
            self._connections.add(upstream)
        self._pipe(client, upstream)

    def _pipe(self, client: socket.socket, upstream: socket.socket) -> None:
        peers = {client: upstream, upstream: client}
        try:
            with selectors.DefaultSelector() as selector:
                for sock in peers:
                    selector.register(sock, selectors.EVENT_READ)
                while self._open(client):
                    if not self._flowing.wait(_POLL_SECONDS):
                        continue
                    for key, _ in selector.select(_POLL_SECONDS):
                        if not self._flowing.is_set():  # paused while waiting: bytes sent since then stay held
                            break
                        data = key.fileobj.recv(65536)
                        if not data:
                            return
                        peers[key.fileobj].sendall(data)
        except (OSError, ValueError):  # a side closed, or stop() closed both
            return
        finally:
            for sock in peers:
                sock.close()
            with self._lock:
                self._connections -= set(peers)

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
