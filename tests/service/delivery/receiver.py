"""A recipient's webhook endpoint for tests: a real HTTP server on 127.0.0.1, in a thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import msgspec


class Received(msgspec.Struct, frozen=True):
    headers: dict[str, str]
    body: bytes


class Receiver:
    """Records every request and answers `status` (set it to 503 to play a recipient that is down)."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.status = 200
        self.delay = 0.0  # seconds before answering: more than the deliverer's timeout plays a hung recipient
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.received.append(Received(headers={k.lower(): v for k, v in self.headers.items()}, body=body))
                time.sleep(receiver.delay)
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hooks/consent"

    @contextmanager
    def serving(self) -> Iterator[Receiver]:
        thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()
            thread.join()
