"""Finding a document that may be so new the projection has not recorded it yet."""

from __future__ import annotations

from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from docstate.client import Client
from docstate.errors import DocumentNotFound
from docstate.jobs import JOB_TYPE, JobSpec
from docstate.projection.records import DocumentRecord
from docstate.protocol import workflow_id


async def recorded(client: Client, document_id: str) -> DocumentRecord | None:
    """The document's row, or None when its workflow exists but has not written it yet.

    A submit returns as soon as Temporal has the workflow; its first projection write
    follows a moment later. Asking Temporal then tells "just submitted" from "unknown".

    Raises:
        DocumentNotFound: when neither the projection nor Temporal knows the id.
    """
    record = await client.queries.get(document_id)
    if record is not None:
        return record
    if await _file_of_running_job(client, document_id):
        return None
    try:
        described = await client.temporal.get_workflow_handle(workflow_id(document_id)).describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise DocumentNotFound(document_id) from None
        raise
    if described.status != WorkflowExecutionStatus.RUNNING:
        raise DocumentNotFound(document_id)  # ended and since deleted from the projection
    return None


async def _file_of_running_job(client: Client, document_id: str) -> bool:
    """Whether ``document_id`` is a file of a job that has not derived its files yet
    (``<job id>/<n>``): asked for right after the submit, it is pending, not unknown."""
    job_id, _, number = document_id.rpartition("/")
    if not job_id or not number.isdigit():
        return False
    job = await client.queries.get(job_id)
    if job is None:  # the job itself is that new: its workflow says whether it runs
        try:
            described = await client.temporal.get_workflow_handle(workflow_id(job_id)).describe()
        except RPCError:
            return False
        return described.status == WorkflowExecutionStatus.RUNNING
    if job.type != JOB_TYPE or job.status.closed:
        return False
    try:
        files = JobSpec.model_validate(job.metadata.get("job")).files
    except ValueError:
        return False
    return 1 <= int(number) <= len(files)
