"""A job's status and results, read from its lineage in the projection.

A job's files are the documents derived from it. The job is *settled* when nothing more
happens without someone acting: its document has ended, or every file has settled (a
file ``waiting`` for a decision keeps its job's workflow open, but the job is then
reported ``failed`` with that file's error, and goes back to ``processing`` if someone
retries it).
"""

from __future__ import annotations

from collections import Counter

from docstate.api.lookup import recorded
from docstate.api.models import FileResult, JobResults, JobState, JobStatus, content_url
from docstate.client import Client
from docstate.document import Status
from docstate.errors import DocumentNotFound
from docstate.jobs import JOB_TYPE, JobSpec
from docstate.projection.records import DocumentRecord

_UNSUCCESSFUL = {Status.FAILED, Status.CANCELLED, Status.WAITING}


class JobView:
    """A job's document and its files, read once."""

    def __init__(self, job: DocumentRecord, files: list[DocumentRecord]) -> None:
        self.job = job
        # In upload order: a file's id ends with its number (``<job id>/<n>``).
        self.files = sorted(files, key=lambda f: int(f.id.rsplit("/", 1)[-1]))
        spec = JobSpec.model_validate(job.metadata["job"])
        self.expected = len(spec.files)

    @classmethod
    async def read(cls, client: Client, job_id: str) -> JobView | None:
        """The job ``job_id``, or None while its workflow has not recorded it yet.

        Raises:
            DocumentNotFound: when there is no such job.
        """
        job = await recorded(client, job_id)
        if job is None:
            return None
        if not cls.is_job(job):
            raise DocumentNotFound(job_id)
        return cls(job, await client.children(job_id))

    @staticmethod
    def is_job(record: DocumentRecord) -> bool:
        return record.type == JOB_TYPE and "job" in record.metadata

    @property
    def status(self) -> JobStatus:
        job = self.job.status
        if job is Status.COMPLETED:
            failed = sum(f.status in _UNSUCCESSFUL for f in self.files)
            return "failed" if failed and failed == len(self.files) else "completed"
        if job in (Status.FAILED, Status.CANCELLED) or (job is Status.WAITING):
            return "failed"
        if self.all_files_settled and any(f.status is Status.WAITING for f in self.files):
            return "failed"
        return "pending" if job is Status.PENDING and not self.files else "processing"

    @property
    def all_files_settled(self) -> bool:
        return len(self.files) == self.expected and all(f.status.settled for f in self.files)

    @property
    def settled(self) -> bool:
        return self.status in ("completed", "failed")

    @property
    def error(self) -> str | None:
        if self.job.error:
            return self.job.error
        bad = [f for f in self.files if f.status in _UNSUCCESSFUL]
        if not bad or not self.settled:
            return None
        first = bad[0]
        return f"{len(bad)} of {self.expected} files did not complete; {first.id}: {first.error}"

    def state(self) -> JobState:
        settled = self.settled
        return JobState(
            job_id=self.job.id,
            status=self.status,
            submitted_at=self.job.created_at,
            started_at=min((f.created_at for f in self.files), default=None),
            completed_at=(
                max([self.job.updated_at, *(f.updated_at for f in self.files)]) if settled else None
            ),
            error=self.error,
            total_files=self.expected,
            counts=dict(Counter(f.status.value for f in self.files)),
        )

    def results(self, base_url: str) -> JobResults:
        entries = [
            FileResult(
                document_id=f.id,
                filename=f.metadata.get("filename"),
                state=f.state,
                status=f.status,
                error=f.error,
                metadata=f.metadata,
                content_url=content_url(base_url, f.id) if f.content_ref else None,
            )
            for f in self.files
        ]
        done = self.state()
        elapsed = (done.completed_at or self.job.updated_at) - self.job.created_at
        return JobResults(
            job_id=self.job.id,
            status=done.status,
            results=entries,
            total_files=self.expected,
            successful=sum(f.status is Status.COMPLETED for f in self.files),
            failed=sum(f.status in _UNSUCCESSFUL for f in self.files),
            total_processing_time_ms=max(0, int(elapsed.total_seconds() * 1000)),
        )
