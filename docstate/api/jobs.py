"""Jobs: ``POST /submit``, ``GET /jobs/{id}``, ``GET /jobs/{id}/results``.

The shapes and names of the document-parsing job server DocState replaces, so its
clients port easily. A job is a ``job`` document whose files are derived documents
(see :mod:`docstate.jobs`).
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from docstate.api.deps import ServicesDep, check_callback
from docstate.api.errors import RESPONSES
from docstate.api.jobview import JobView
from docstate.api.models import JobAccepted, JobResults, JobState
from docstate.api.uploads import read_form
from docstate.errors import ApiError
from docstate.jobs import JOB_TYPE, JobFile, JobSpec, job_metadata

router = APIRouter(tags=["jobs"], responses=RESPONSES)

MAX_WAIT = 60.0
JobId = Annotated[str, Path(pattern=r"^[A-Za-z0-9._:@+=-]+$", max_length=200)]

SUBMIT_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["files"],
                    "properties": {
                        "files": {
                            "type": "array",
                            "items": {"type": "string", "format": "binary"},
                            "description": "one or more files",
                        },
                        "type": {"type": "string", "description": "document type of the files"},
                        "metadata": {"type": "string", "description": "a JSON object"},
                        "callback_url": {"type": "string"},
                    },
                }
            }
        },
    }
}


def _validation(field: str, message: str) -> ApiError:
    return ApiError(422, "validation", f"{field}: {message}", {"field": field})


@router.post("/submit", response_model=JobAccepted, openapi_extra=SUBMIT_BODY)
async def submit(request: Request, services: ServicesDep) -> JobAccepted:
    """Submit files as one job; each file becomes a document of ``type``."""
    settings = services.settings
    form = await read_form(request, services.client.blobs, settings.api_max_upload)
    if not form.files:
        raise _validation("files", "at least one file is required")
    file_type = form.fields.get("type") or settings.api_default_type
    await services.known_type(JOB_TYPE)
    await services.known_type(file_type)
    try:
        metadata = json.loads(form.fields.get("metadata") or "{}")
    except json.JSONDecodeError as err:
        raise _validation("metadata", f"not JSON: {err}") from None
    if not isinstance(metadata, dict):
        raise _validation("metadata", "must be a JSON object")
    callback_url = await check_callback(services, form.fields.get("callback_url"))
    try:
        spec = JobSpec(
            files=[
                JobFile(
                    filename=f.filename,
                    content_type=f.content_type,
                    sha256=f.ref.sha256,
                    size=f.ref.size,
                )
                for f in form.files
            ],
            file_type=file_type,
            file_metadata=metadata,
        )
    except ValidationError as err:
        raise _validation("files", str(err)) from None
    job_id = f"job-{uuid.uuid4().hex[:16]}"
    metadata = job_metadata(spec)
    if callback_url:
        metadata["callback_url"] = callback_url
    await services.client.submit(type=JOB_TYPE, id=job_id, metadata=metadata)
    count = len(spec.files)
    return JobAccepted(job_id=job_id, message=f"{count} file{'s' * (count != 1)} submitted")


async def _view(services: ServicesDep, job_id: str, wait: float) -> JobView | None:
    deadline = time.monotonic() + min(wait, MAX_WAIT)
    while True:
        view = await JobView.read(services.client, job_id)
        left = deadline - time.monotonic()
        if (view is not None and view.settled) or left <= 0:
            return view
        # one query per tick serves every waiting request (see docstate.api.watch)
        await services.jobs.wait(job_id, left)


def _pending(job_id: str) -> JobState:
    return JobState(job_id=job_id, status="pending", total_files=0, counts={})


@router.get("/jobs/{job_id}", response_model=JobState)
async def job_status(
    job_id: JobId,
    services: ServicesDep,
    wait: Annotated[
        float, Query(ge=0, le=MAX_WAIT, description="hold until settled, at most S seconds")
    ] = 0,
) -> JobState:
    """Where the job stands, with its files counted by status."""
    view = await _view(services, job_id, wait)
    return view.state() if view is not None else _pending(job_id)


@router.get(
    "/jobs/{job_id}/results",
    response_model=JobResults,
    responses={202: {"model": JobState, "description": "The job is still running"}},
)
async def job_results(job_id: JobId, request: Request, services: ServicesDep) -> Any:
    """Every file's outcome once the job has settled; 202 with the status before."""
    view = await JobView.read(services.client, job_id)
    if view is None or not view.settled:
        state = view.state() if view is not None else _pending(job_id)
        return JSONResponse(state.model_dump(mode="json"), status_code=202)
    return view.results(services.base_url(request))
