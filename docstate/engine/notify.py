"""The document workflow's webhook: its end POSTed to ``metadata["callback_url"]``.

Each attempt is one ``docstate.webhook`` activity (it retries nothing itself), recorded
in the document's history as a ``webhook`` event whose transition names the outcome;
the workflow waits with the backoff the activity asks for, until it is delivered, refused
or the activity gives up. The document's status and error are left as they were.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

from docstate.engine.recording import DocumentRecording
from docstate.protocol import WEBHOOK_ACTIVITY
from docstate.webhooks import WebhookOutcome, WebhookRequest

WEBHOOK_PATCH = "docstate-webhook-v1"
ATTEMPT_TIMEOUT = timedelta(seconds=30)
NAME_LIMIT = 100  # the projection's transition column


class DocumentNotifying(DocumentRecording):
    """Webhook delivery of :class:`~docstate.engine.DocumentWorkflow`."""

    async def _notify(self) -> None:
        """At the document's end (whatever it is): its search attributes shown, then the
        webhook, if it has one."""
        self._show()
        url = self._doc.metadata.get("callback_url")
        # Documents without a callback URL run exactly the commands they always did.
        if not isinstance(url, str) or not url or not workflow.patched(WEBHOOK_PATCH):
            return
        first = workflow.now()
        attempt = 0
        while True:
            attempt += 1
            outcome = await workflow.execute_activity(
                WEBHOOK_ACTIVITY,
                WebhookRequest(
                    url=url, document_id=self._doc.id, attempt=attempt, first_attempt_at=first
                ),
                result_type=WebhookOutcome,
                start_to_close_timeout=ATTEMPT_TIMEOUT,
                retry_policy=RetryPolicy(maximum_attempts=1),
            )
            note = f"webhook {attempt}: {outcome.detail}"[:NAME_LIMIT]
            await self._record(self._status, transition=note, error=self._error)
            if not outcome.retry:
                return
            await workflow.sleep(timedelta(seconds=outcome.delay_seconds))
