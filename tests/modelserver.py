"""A real HTTP file server on 127.0.0.1 for download tests (the ``model_server`` fixture,
registered in tests/conftest.py)."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator

import pytest


@dataclass
class ModelServer:
    """Serves ``files`` (path -> bytes) with HTTP Range support and scripted misbehaviour.

    ``requests`` logs ``(path, range_header_or_None, status)`` for every request.
    ``ignore_range``: answer Range requests with the whole file (200).
    ``drop_after``: path -> byte count; the next response for that path sends that many
    bytes of its body and closes the connection (one-shot).
    """

    base_url: str = ""
    files: dict[str, bytes] = field(default_factory=dict)
    requests: list[tuple[str, str | None, int]] = field(default_factory=list)
    ignore_range: bool = False
    drop_after: dict[str, int] = field(default_factory=dict)

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    def count(self, path: str) -> int:
        return sum(1 for p, _, _ in self.requests if p == "/" + path.lstrip("/"))


def _handler(server_state: ModelServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # keep test output quiet
            pass

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            path = self.path.split("?")[0]
            range_header = self.headers.get("Range")
            body = server_state.files.get(path)
            if body is None:
                server_state.requests.append((path, range_header, 404))
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            start = 0
            status = 200
            match = re.match(r"bytes=(\d+)-$", range_header or "")
            if match and not server_state.ignore_range:
                start = int(match.group(1))
                if start >= len(body):
                    server_state.requests.append((path, range_header, 416))
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(body)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                status = 206
            server_state.requests.append((path, range_header, status))
            payload = body[start:]
            self.send_response(status)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(payload)))
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            self.send_header("Accept-Ranges", "bytes")
            self.end_headers()
            cut = server_state.drop_after.pop(path, None)
            if cut is not None:
                self.wfile.write(payload[:cut])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(payload)

    return Handler


@pytest.fixture
def model_server() -> Iterator[ModelServer]:
    """A running :class:`ModelServer` on an ephemeral 127.0.0.1 port."""
    state = ModelServer()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    httpd.daemon_threads = True
    state.base_url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
