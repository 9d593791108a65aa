"""Logs as text (default) or as one JSON object per line (``DOCSTATE_LOG_FORMAT=json``).

A JSON line carries the document id, workflow id and run id of the activity or workflow
it was logged from, so a log search for one document finds all of its lines.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from temporalio import activity, workflow

from docstate.config import Settings

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, and document context."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line |= _context(record)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def _context(record: logging.LogRecord) -> dict[str, str]:
    """Ids of the activity or workflow the record comes from, if any: from the details
    the SDK's loggers attach, else from the activity or workflow running this code."""
    workflow_id = run_id = None
    details = getattr(record, "temporal_activity", None) or getattr(
        record, "temporal_workflow", None
    )
    if isinstance(details, dict):
        workflow_id = details.get("workflow_id")
        run_id = details.get("workflow_run_id") or details.get("run_id")
    elif activity.in_activity():
        info = activity.info()
        workflow_id, run_id = info.workflow_id, info.workflow_run_id
    elif workflow.in_workflow():
        winfo = workflow.info()
        workflow_id, run_id = winfo.workflow_id, winfo.run_id
    if not workflow_id:
        return {}
    context = {"workflow_id": workflow_id, "run_id": run_id or ""}
    if workflow_id.startswith("doc:"):
        context["document_id"] = workflow_id.removeprefix("doc:")
    return context


def configure_logging(settings: Settings) -> None:
    """Log INFO and above to stderr, as text or JSON as ``settings.log_format`` says."""
    handler = logging.StreamHandler()
    if settings.log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
