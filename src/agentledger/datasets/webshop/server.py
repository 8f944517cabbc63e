"""Serve an ASGI app with uvicorn on a free loopback port, in a background thread.

``ShopServer.start()`` binds ``127.0.0.1:0`` itself (so the port is known and cannot be taken in
between; with ``TCP_NODELAY``, which keeps a request under a millisecond instead of ~40 ms), runs uvicorn's server loop in a daemon thread with its own event loop, and returns once
the server accepts connections. ``stop()`` asks uvicorn to exit, waits for the thread (open
keep-alive connections are closed by uvicorn's shutdown), and closes the socket, so the port is
free and no thread is left when it returns. Both are idempotent; the server is also a context
manager (``with ShopServer(app) as srv: ... srv.url``).
"""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType
from typing import Any

import uvicorn

from agentledger.errors import DataError

__all__ = ["ShopServer"]

_START_TIMEOUT_S = 15.0
_STOP_TIMEOUT_S = 10.0


class ShopServer:
    """One uvicorn server for one app; ``url`` is ``http://127.0.0.1:PORT`` while running."""

    def __init__(self, app: Any, host: str = "127.0.0.1") -> None:
        self._app = app
        self._host = host
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None
        self._error: BaseException | None = None
        self._lock = threading.Lock()
        self.port: int | None = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise DataError("the shop server is not running; start it first")
        return f"http://{self._host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> str:
        """Start serving (no-op when running); returns ``url``."""
        with self._lock:
            if self.running:
                return self.url
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            # accepted connections inherit this; without it uvicorn's separate header and body writes
            # meet the client's delayed ACK and every request takes about 40 ms
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.bind((self._host, 0))
            sock.listen(128)
            config = uvicorn.Config(self._app, log_config=None, log_level="warning", access_log=False, lifespan="off",
                                    loop="asyncio", timeout_graceful_shutdown=2)
            server = uvicorn.Server(config)
            self._server, self._sock, self._error = server, sock, None
            self.port = sock.getsockname()[1]
            thread = threading.Thread(target=self._serve, name=f"webshop-server-{self.port}", daemon=True)
            self._thread = thread
            thread.start()
            deadline = time.monotonic() + _START_TIMEOUT_S
            while not server.started:
                if not thread.is_alive() or time.monotonic() > deadline:
                    self._stop_locked()
                    raise DataError(f"the shop server did not start on {self._host}: {self._error or 'timed out'}")
                time.sleep(0.005)
            return self.url

    def _serve(self) -> None:
        assert self._server is not None and self._sock is not None
        try:
            self._server.run(sockets=[self._sock])
        except (Exception, SystemExit) as err:  # reported by start()
            self._error = err

    def stop(self) -> None:
        """Stop serving and wait until the thread is gone and the port is closed."""
        with self._lock:
            self._stop_locked()

    def _stop_locked(self) -> None:
        server, thread, sock = self._server, self._thread, self._sock
        if server is not None:
            server.should_exit = True
        if thread is not None:
            thread.join(_STOP_TIMEOUT_S)
            if thread.is_alive() and server is not None:
                server.force_exit = True
                thread.join(_STOP_TIMEOUT_S)
        if sock is not None:
            sock.close()
        self._server = self._thread = self._sock = None
        self.port = None

    def __enter__(self) -> ShopServer:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
