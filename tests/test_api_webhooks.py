"""Webhooks: a receiver that fails twice then accepts gets one accepted, signed delivery."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from docstate.engine import DocumentWorkflow
from docstate.webhooks import WebhookSender
from tests.api_support import Receiver, api_for
from tests.conftest import Harness
from tests.test_readme import block

SECRET = "s3cret"


def verified(headers: dict[str, str], body: bytes) -> bool:
    """The receiver's check, run as the README shows it."""
    namespace: dict[str, Any] = {}
    exec(block("python", "def verify(headers"), namespace)
    result: bool = namespace["verify"](headers, body, SECRET)
    return result


async def test_a_job_end_is_delivered_once_signed_after_two_failures(
    harness: Harness, receiver: Receiver
) -> None:
    receiver.failures_left = 2
    sender = WebhookSender(
        harness.queries, SECRET, retry_for=timedelta(minutes=5), allow_private=True
    )
    async with api_for(harness, webhooks=sender, webhook_allow_private=True) as api:
        job_id = await api.submit(("a.txt", b"one two"), callback_url=receiver.url)
        state = (await api.http.get(f"/jobs/{job_id}", params={"wait": 60})).json()
        assert state["status"] == "completed"
        history = []
        for _ in range(100):  # the deliveries follow the end, with 1 s and 2 s of backoff
            history = await api.harness.client.history(job_id)
            if any("delivered" in (e.transition or "") for e in history):
                break
            await asyncio.sleep(0.1)
    notes = [e.transition for e in history if (e.transition or "").startswith("webhook")]
    assert notes == [
        "webhook 1: HTTP 500; retrying",
        "webhook 2: HTTP 500; retrying",
        "webhook 3: delivered: HTTP 204",
    ]
    assert [status for status, _, _ in receiver.calls] == [500, 500, 204]
    accepted = [(h, b) for status, h, b in receiver.calls if status == 204]
    assert len(accepted) == 1
    headers, body = accepted[0]
    assert verified(headers, body)
    assert not verified({**headers, "X-DocState-Timestamp": "1"}, body)
    sent = json.loads(body)
    assert sent["job_id"] == job_id and sent["status"] == "completed"
    assert sent["counts"] == {"completed": 1}
    record = await harness.client.get(job_id)
    assert record.status.value == "completed" and record.error is None
    # the webhook path is deterministic: its history replays against the workflow code
    history_of_job = await harness.temporal.get_workflow_handle(f"doc:{job_id}").fetch_history()
    await Replayer(
        workflows=[DocumentWorkflow], data_converter=pydantic_data_converter
    ).replay_workflow(history_of_job)


async def test_private_callback_urls_are_refused_unless_allowed(harness: Harness) -> None:
    async with api_for(harness) as api:
        refused = await api.http.post(
            "/submit", files={"files": ("a.txt", b"x")}, data={"callback_url": "http://10.0.0.1/"}
        )
        assert refused.status_code == 422
        error = refused.json()["error"]
        assert error["details"] == {"field": "callback_url"}
        assert "non-public address (10.0.0.1)" in error["message"]
        process = await api.http.post(
            "/api/v1/process",
            json={"identifier": "p", "target": "validate", "callback_url": "ftp://x/"},
        )
        assert process.status_code == 422
