"""Webhooks: a document's (or job's) end POSTed to its ``callback_url``, signed.

The delivery is an activity of the document's workflow, run once per attempt: the
workflow records each attempt and its outcome in the document's history and waits with
backoff between them, for up to ``webhook_retry_for``. The body is what
``GET /jobs/{id}`` answers for a job (``GET /api/v1/objects/{id}`` for any other
document); the headers carry ``X-DocState-Timestamp`` and ``X-DocState-Signature``:
``sha256=`` and the hex HMAC-SHA256 of ``<timestamp>.<body>`` with ``webhook_secret``.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from datetime import UTC, datetime, timedelta

import httpx
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio import activity
from temporalio.common import MetricCounter, MetricMeter

from docstate.api.jobview import JobView
from docstate.api.models import ObjectOut
from docstate.config import Settings
from docstate.errors import ContentError
from docstate.fetch import FetchPolicy, aimed_at, allowed_address
from docstate.projection.queries import ProjectionQueries
from docstate.projection.records import DocumentRecord
from docstate.protocol import WEBHOOK_ACTIVITY

TIMEOUT = 10.0
MAX_DELAY = 60.0


class WebhookRequest(BaseModel):
    """One delivery attempt of a document's end."""

    url: str
    document_id: str
    attempt: int
    first_attempt_at: datetime


class WebhookOutcome(BaseModel):
    """How an attempt went, and whether (and when) to try again."""

    delivered: bool
    retry: bool
    detail: str
    delay_seconds: float = 0.0


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-DocState-Signature`` value of ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


class WebhookSender:
    """The ``docstate.webhook`` activity.

    Args:
        queries: The projection the body is read from; None: webhooks are off here.
        secret: The signing key; None: webhooks are off here.
        retry_for: How long after the first attempt a failure is retried.
        allow_private: Whether loopback, link-local and private targets are allowed.
        public_url: Base of the content URLs in the body.
        meter: Where ``docstate_webhook_deliveries`` is counted, by ``outcome``:
            ``delivered``, ``retrying`` (failed, tried again later), ``gave_up`` (failed
            for good, or the URL refused), ``not_configured`` (no secret here).
    """

    def __init__(
        self,
        queries: ProjectionQueries | None = None,
        secret: str | None = None,
        *,
        retry_for: timedelta = timedelta(hours=1),
        allow_private: bool = False,
        public_url: str = "",
        meter: MetricMeter | None = None,
    ) -> None:
        self.queries = queries
        self.secret = secret
        self.retry_for = retry_for
        self.policy = FetchPolicy(timeout=TIMEOUT, allow_private=allow_private)
        self.public_url = public_url
        self.deliveries: MetricCounter | None = None
        if meter is not None:
            self.deliveries = meter.create_counter(
                "docstate_webhook_deliveries", "webhook delivery attempts, by outcome"
            )

    async def body(self, document_id: str) -> bytes | None:
        assert self.queries is not None
        record = await self.queries.get(document_id)
        if record is None:
            return None
        record = _as_ended(record)
        if JobView.is_job(record):
            files = [_as_ended(f) for f in await self.queries.children(document_id)]
            return JobView(record, files).state().model_dump_json().encode()
        return ObjectOut.of(record, self.public_url).model_dump_json().encode()

    @activity.defn(name=WEBHOOK_ACTIVITY)
    async def deliver(self, request: WebhookRequest) -> WebhookOutcome:
        """POST the document's end to its callback URL, once."""
        if self.queries is None or self.secret is None:
            outcome = WebhookOutcome(
                delivered=False, retry=False, detail="not sent: no DOCSTATE_WEBHOOK_SECRET"
            )
            return self._counted(outcome, "not_configured")
        outcome = await self._send(request)
        if outcome.delivered:
            return self._counted(outcome, "delivered")
        return self._counted(outcome, "retrying" if outcome.retry else "gave_up")

    def _counted(self, outcome: WebhookOutcome, name: str) -> WebhookOutcome:
        if self.deliveries is not None:
            self.deliveries.add(1, {"outcome": name})
        return outcome

    async def _send(self, request: WebhookRequest) -> WebhookOutcome:
        assert self.secret is not None
        try:
            address = await allowed_address(request.url, self.policy)
        except ContentError as err:
            return WebhookOutcome(delivered=False, retry=False, detail=f"refused: {err}")
        body = await self.body(request.document_id)
        if body is None:
            return self._again(request, "the document is not recorded yet")
        target, headers, extensions = aimed_at(request.url, address)
        timestamp = str(int(time.time()))
        headers |= {
            "Content-Type": "application/json",
            "X-DocState-Timestamp": timestamp,
            "X-DocState-Signature": sign(self.secret, timestamp, body),
        }
        try:
            async with httpx.AsyncClient(timeout=TIMEOUT) as http:
                response = await http.post(
                    target, content=body, headers=headers, extensions=extensions
                )
        except httpx.HTTPError as err:
            return self._again(request, f"{type(err).__name__}: {err}")
        if response.is_success:
            return WebhookOutcome(
                delivered=True, retry=False, detail=f"delivered: HTTP {response.status_code}"
            )
        return self._again(request, f"HTTP {response.status_code}")

    def _again(self, request: WebhookRequest, detail: str) -> WebhookOutcome:
        delay = min(2.0 ** (request.attempt - 1), MAX_DELAY)
        elapsed = datetime.now(UTC) - request.first_attempt_at
        if elapsed + timedelta(seconds=delay) > self.retry_for:
            return WebhookOutcome(delivered=False, retry=False, detail=f"{detail}; gave up")
        return WebhookOutcome(
            delivered=False, retry=True, detail=f"{detail}; retrying", delay_seconds=delay
        )


def webhook_sender(
    settings: Settings, engine: AsyncEngine, meter: MetricMeter | None = None
) -> WebhookSender:
    """The sender ``settings`` configure (``webhook_*``), reading the projection at
    ``engine`` (and counting its deliveries on ``meter``, if given)."""
    secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
    return WebhookSender(
        ProjectionQueries(engine),
        secret,
        retry_for=settings.webhook_retry_for,
        allow_private=settings.webhook_allow_private,
        public_url=settings.api_public_url or "",
        meter=meter,
    )


def _as_ended(record: DocumentRecord) -> DocumentRecord:
    """The row with its closed status shown even while it waits for confirmation.

    A webhook goes out as the document's workflow ends: its own closed status, and those
    of the files it waited for (their workflows have closed), are Temporal's truth by
    then, a moment before the projection has confirmed them.
    """
    if record.closing is None:
        return record
    return record.model_copy(update={"status": record.closing, "closing": None})
