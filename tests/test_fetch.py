"""URL fetching: no private addresses unless allowed, a size cap, a time limit."""

from __future__ import annotations

import asyncio
import http.server
import threading
import time
from collections.abc import Iterator

import pytest

from docstate.devserver import free_port
from docstate.errors import ContentError
from docstate.fetch import FetchPolicy, fetch

ALLOW = FetchPolicy(allow_private=True, timeout=5)


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/big":
            self._send(b"x" * 50_000)
        elif self.path == "/slow":
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            for _ in range(100):
                self.wfile.write(b"s")
                self.wfile.flush()
                time.sleep(0.05)
        elif self.path.startswith("/hop/"):
            n = int(self.path.rsplit("/", 1)[1])
            self.send_response(302)
            self.send_header("Location", f"/hop/{n - 1}" if n > 0 else "/small")
            self.end_headers()
        else:
            self._send(b"small body")

    def _send(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    thread.join()


async def body(url: str, policy: FetchPolicy | None = None) -> bytes:
    return b"".join([chunk async for chunk in fetch(url, policy)])


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/x",
        "http://localhost:9/x",
        "http://[::1]:9/x",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.1.2.3/x",
        "http://192.168.0.1/x",
        "http://0.0.0.0:9/x",
        "http://[::ffff:127.0.0.1]:9/x",
    ],
)
async def test_non_public_addresses_are_refused_by_default(url: str) -> None:
    with pytest.raises(ContentError, match="resolves to a non-public address"):
        await body(url)


async def test_allowed_private_fetch_follows_redirects(server: str) -> None:
    assert await body(f"{server}/hop/2", ALLOW) == b"small body"
    with pytest.raises(ContentError, match="more than 5 redirects"):
        await body(f"{server}/hop/9", ALLOW)


async def test_the_size_cap_stops_a_large_body(server: str) -> None:
    policy = FetchPolicy(allow_private=True, max_bytes=10_000)
    with pytest.raises(ContentError, match="larger than 10000 bytes"):
        await body(f"{server}/big", policy)
    assert len(await body(f"{server}/big", FetchPolicy(allow_private=True))) == 50_000


async def test_the_time_limit_stops_a_slow_body(server: str) -> None:
    policy = FetchPolicy(allow_private=True, timeout=1)
    with pytest.raises(ContentError, match="took longer than 1s"):
        await asyncio.wait_for(body(f"{server}/slow", policy), 30)


async def test_not_http_is_refused() -> None:
    with pytest.raises(ContentError, match="not an http"):
        await body("ftp://example.org/x")
