"""What the routes share: the embedded client, settings, the API-key check, links."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import SecretStr

from docstate.api.watch import JobWatcher
from docstate.client import Client
from docstate.config import Settings
from docstate.errors import ApiError, ContentError, UnknownDocumentType
from docstate.fetch import FetchPolicy, allowed_address
from docstate.projection.catalog import TypeRecord, published_types


@dataclass
class Services:
    """One per API process: everything is stateless over Temporal and the projection."""

    client: Client
    settings: Settings
    jobs: JobWatcher

    async def types(self) -> dict[str, TypeRecord]:
        return {t.name: t for t in await published_types(self.client.queries.engine)}

    async def known_type(self, name: str) -> TypeRecord:
        """The published type ``name``.

        Raises:
            UnknownDocumentType: when no worker has published it.
        """
        types = await self.types()
        if name not in types:
            raise UnknownDocumentType(name, list(types))
        return types[name]

    def base_url(self, request: Request) -> str:
        return self.settings.api_public_url or str(request.base_url)


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


ServicesDep = Annotated[Services, Depends(services)]

_api_key = APIKeyHeader(name="X-Api-Key", auto_error=False, description="one of DOCSTATE_API_KEYS")


async def require_key(
    request: Request, key: Annotated[str | None, Security(_api_key)] = None
) -> None:
    """Refuse a request without a valid key, when keys are configured.

    Every configured key is compared (in constant time), so the time taken tells nothing
    about which key came close; the key itself is never logged.
    """
    keys = services(request).settings.api_keys
    if keys and not _matches(keys, key):
        raise ApiError(401, "unauthorized", "a valid X-Api-Key header is required")


def _matches(keys: list[SecretStr], given: str | None) -> bool:
    """Whether ``given`` is one of ``keys``, every one compared in constant time."""
    encoded = (given or "").encode()
    matched = False
    for expected in keys:
        matched |= hmac.compare_digest(encoded, expected.get_secret_value().encode())
    return matched


_bearer = HTTPBearer(auto_error=False, description="one of DOCSTATE_API_KEYS, for scrapers")


async def require_metrics_key(
    request: Request,
    key: Annotated[str | None, Security(_api_key)] = None,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)] = None,
) -> None:
    """``/metrics`` takes a key like every endpoint, in ``X-Api-Key`` or as
    ``Authorization: Bearer <key>`` (what Prometheus' ``authorization`` setting sends);
    none is asked when ``api_metrics_public`` is set.
    """
    settings = services(request).settings
    if not settings.api_keys or settings.api_metrics_public:
        return
    given = key if key else (bearer.credentials if bearer else None)
    if not _matches(settings.api_keys, given):
        raise ApiError(
            401, "unauthorized", "a valid X-Api-Key or Authorization: Bearer key is required"
        )


async def check_callback(services: Services, url: str | None) -> str | None:
    """``url`` when webhooks may be sent to it.

    Raises:
        ApiError: 422 for a URL that is not http(s), or names a non-public address while
            ``webhook_allow_private`` is off.
    """
    if not url:
        return None
    policy = FetchPolicy(allow_private=services.settings.webhook_allow_private)
    try:
        await allowed_address(url, policy)
    except ContentError as err:
        message = str(err).replace("cannot fetch", "callback_url: cannot call", 1)
        message = message.replace("DOCSTATE_FETCH_ALLOW_PRIVATE", "DOCSTATE_WEBHOOK_ALLOW_PRIVATE")
        raise ApiError(422, "validation", message, {"field": "callback_url"}) from None
    return url
