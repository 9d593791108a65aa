"""Fetching a document's content from a URL: streamed, bounded, and never from inside.

The same rule holds for the CLI, the client and the HTTP API: a URL whose host resolves
to a loopback, link-local, private or otherwise non-public address is refused unless
``fetch_allow_private`` is set (no server-side request forgery through DocState). The
address checked is the one connected to, and every redirect is checked again.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx

from docstate.blobs.base import CHUNK_SIZE
from docstate.config import Settings
from docstate.errors import ContentError

MAX_REDIRECTS = 5


@dataclass(frozen=True)
class FetchPolicy:
    """Limits of a URL fetch.

    Attributes:
        max_bytes: Largest body accepted.
        timeout: Seconds the whole fetch may take.
        allow_private: Whether non-public addresses may be fetched.
    """

    max_bytes: int = 512 * 1024 * 1024
    timeout: float = 60.0
    allow_private: bool = False

    @classmethod
    def from_settings(cls, settings: Settings) -> FetchPolicy:
        """The policy ``settings`` configure (``fetch_*``)."""
        return cls(settings.fetch_max_bytes, settings.fetch_timeout, settings.fetch_allow_private)


def is_url(value: str) -> bool:
    """Whether ``value`` is an http(s) URL (rather than text content)."""
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and " " not in value


def url_filename(url: str) -> str:
    parts = urlsplit(url)
    return parts.path.rstrip("/").rsplit("/", 1)[-1] or parts.netloc


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


async def allowed_address(url: str, policy: FetchPolicy) -> str:
    """The address to connect to for ``url``, once every address of its host is allowed."""
    parts = urlsplit(url)
    host = parts.hostname
    if parts.scheme not in ("http", "https") or not host:
        raise ContentError(f"cannot fetch {url}: not an http(s) URL")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as err:
        raise ContentError(f"cannot fetch {url}: cannot resolve {host}: {err}") from None
    addresses = sorted({str(info[4][0]) for info in infos})
    refused = [a for a in addresses if not _public(a)]
    if refused and not policy.allow_private:
        raise ContentError(
            f"cannot fetch {url}: {host} resolves to a non-public address ({', '.join(refused)}); "
            "set DOCSTATE_FETCH_ALLOW_PRIVATE=true to allow it"
        )
    return addresses[0]


def aimed_at(url: str, address: str) -> tuple[str, dict[str, str], dict[str, str]]:
    """``url`` aimed at ``address``, with the Host header and TLS name of the original."""
    parts = urlsplit(url)
    host = f"[{address}]" if ":" in address else address
    netloc = f"{host}:{parts.port}" if parts.port else host
    headers = {"Host": parts.netloc.rsplit("@", 1)[-1]}
    return parts._replace(netloc=netloc).geturl(), headers, {"sni_hostname": parts.hostname or ""}


async def fetch(url: str, policy: FetchPolicy | None = None) -> AsyncIterator[bytes]:
    """The body at ``url``, a chunk at a time, within ``policy``'s limits.

    Raises:
        ContentError: naming the URL and what went wrong (a refused address, HTTP status,
            an unreachable host, a body over the size cap, the time limit).
    """
    policy = policy or FetchPolicy()
    deadline = time.monotonic() + policy.timeout
    timeout = httpx.Timeout(policy.timeout)
    async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as http:
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            target, headers, extensions = aimed_at(current, await allowed_address(current, policy))
            try:
                async with http.stream(
                    "GET", target, headers=headers, extensions=extensions
                ) as response:
                    if response.is_redirect and "location" in response.headers:
                        current = urljoin(current, response.headers["location"])
                        continue
                    if response.status_code >= 400:
                        raise ContentError(
                            f"cannot fetch {url}: HTTP {response.status_code} "
                            f"{response.reason_phrase}"
                        )
                    size = 0
                    async for chunk in response.aiter_bytes(CHUNK_SIZE):
                        size += len(chunk)
                        if size > policy.max_bytes:
                            raise ContentError(
                                f"cannot fetch {url}: larger than {policy.max_bytes} bytes"
                            )
                        if time.monotonic() > deadline:
                            raise ContentError(
                                f"cannot fetch {url}: took longer than {policy.timeout:g}s"
                            )
                        yield chunk
                    return
            except httpx.TimeoutException:
                raise ContentError(
                    f"cannot fetch {url}: took longer than {policy.timeout:g}s"
                ) from None
            except httpx.HTTPError as err:
                raise ContentError(f"cannot fetch {url}: {err or type(err).__name__}") from None
        raise ContentError(f"cannot fetch {url}: more than {MAX_REDIRECTS} redirects")
