"""One watcher per client: every wait and progress stream, one query per tick.

Each waiter and stream registers a :class:`_Subscription` on its document. A single
task reads, in one query (:func:`~docstate.projection.changes.read_changes`), every
watched document whose row moved past the least any of its subscriptions has seen, with
the events those subscriptions have not had, and hands each subscription its part. A
read happens once per tick (``interval``), at once when a PostgreSQL notification says
something was committed (the tick then only guards against lost notifications), and at
once when someone starts watching; never closer together than ``min_gap``, which caps
the rate however many batches commit. A tick reads every watched document; a read for a
notification only the documents it names (and one for a new subscription only its
document), so its query stays small however many documents are watched, and a
notification that names none of them costs no query. The task starts with the first
subscription and ends with the last.

An optional :class:`WatchObserver` (the API's metrics) is told of every read and of
every change handed over that happened while its document was watched, with its lag.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncEngine

from docstate.client.listen import Listener
from docstate.durations import shown_seconds
from docstate.projection.changes import NO_EVENTS, Change, Mark, read_changes
from docstate.projection.records import DocumentRecord, EventRecord


def _settled(record: DocumentRecord) -> bool:
    return record.status.settled


class WatchObserver(Protocol):
    """What a watcher reports of itself (metrics)."""

    def read(self) -> None:
        """One change read (one query) happened."""

    def delivered(self, lag: float) -> None:
        """A document changed while watched, and its change reached its waiters and
        streams ``lag`` seconds after the change's time (its row's ``updated_at``)."""


@dataclass(eq=False)
class _Subscription:
    """One waiter or stream on one document, and how far it has been served."""

    document_id: str
    events: bool
    since: datetime = field(default_factory=lambda: datetime.now(UTC))
    """When it started watching: changes older than that are not lag."""
    version: int = -1
    """The newest document row version handed over."""
    position: int = -1
    """The newest event seq put in the buffer."""
    consumed: int = -1
    """The newest event seq the stream has taken from its buffer."""
    behind: bool = False
    """Its buffer overflowed: once drained, it reads the rest from the table."""
    record: DocumentRecord | None = None
    error: BaseException | None = None
    buffer: deque[EventRecord] = field(default_factory=deque)
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    def _confirms(self, record: DocumentRecord) -> bool:
        """Whether ``record`` is the row seen before, now with its status confirmed."""
        seen = self.record
        return seen is not None and seen.version == record.version and seen != record

    def mark(self) -> tuple[int, int]:
        return self.version, self.position if self.events else NO_EVENTS

    def take(self, change: Change, limit: int) -> None:
        """Take this document's change: its row, and the events not had yet, as many as
        the buffer has room for. With more, the stream is ``behind``: its marks stay at the
        last event taken, so the next read after it drains brings the rest from the table.
        """
        if self.events:
            fresh = [e for e in change.events if e.seq > self.position]
            room = max(limit - len(self.buffer), 0)
            if len(fresh) > room:
                fresh, self.behind = fresh[:room], True
            self.buffer.extend(fresh)
            if fresh:
                self.position = fresh[-1].seq
                self.wake.set()
        if change.record.version > self.version or self._confirms(change.record):
            self.record = change.record
            # A closed status waiting for Temporal's confirmation (``closing``) is
            # confirmed at the same version: keep asking for the row until it is.
            pending = change.record.closing is not None
            self.version = change.record.version - (1 if pending else 0)
            self.wake.set()
        if self.behind:  # the row must come back with the events not yet taken
            self.version = min(self.version, self.position)


class Watcher:
    """Serves every :meth:`wait` and :meth:`follow` of a client from one reading task.

    Args:
        engine: The projection's engine; each read checks a connection out of its pool.
        interval: Seconds between reads when nothing pushes (SQLite; PostgreSQL without a
            LISTEN connection).
        push_interval: Seconds between reads while LISTEN is up: only a safety net for a
            lost notification.
        min_gap: Least seconds between two reads, however many notifications arrive.
        buffer_limit: Events a stream may hold unconsumed; past that it drops them and
            reads them again from the table when its consumer is ready.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        interval: float = 0.2,
        push_interval: float = 1.0,
        min_gap: float = 0.05,
        buffer_limit: int = 1000,
    ) -> None:
        self.engine = engine
        self.interval = interval
        self.push_interval = push_interval
        self.min_gap = min_gap
        self.buffer_limit = buffer_limit
        self.listener: Listener | None = (
            Listener(engine.url, self.poke) if engine.dialect.name == "postgresql" else None
        )
        self.reads = 0
        """Change reads so far, each one query."""
        self.observer: WatchObserver | None = None
        """Told of every read and delivery (the API's metrics), when set."""
        self._subs: dict[str, set[_Subscription]] = {}
        self._poke = asyncio.Event()
        self._wanted: set[str] | None = set()  # what the next read is for (None: everything)
        self._task: asyncio.Task[None] | None = None
        self._last_read = -float("inf")

    def poke(self, document_ids: Iterable[str] | None = None) -> None:
        """Read as soon as ``min_gap`` allows: what changed for ``document_ids`` (they
        were committed, or someone started watching them), or for every watched document
        (``None``: a lost notification, a new LISTEN connection)."""
        if document_ids is None:
            self._wanted = None
        elif self._wanted is not None:
            self._wanted.update(document_ids)
        self._poke.set()

    async def wait(
        self,
        document_id: str,
        *,
        timeout: float | None,
        until: Callable[[DocumentRecord], bool] = _settled,
        named_timeout: float | None = None,
    ) -> DocumentRecord:
        """The document's row once ``until`` holds for it (by default: it has settled, see
        :meth:`docstate.Client.wait`).

        ``named_timeout`` is the limit the timeout error names, when it is not
        ``timeout`` (a caller that spent part of its own limit before this wait).
        """
        sub = self._subscribe(document_id, events=False)
        try:
            async with asyncio.timeout(timeout):
                while True:
                    sub.wake.clear()
                    if sub.error is not None:
                        raise sub.error
                    if sub.record is not None and until(sub.record):
                        return sub.record
                    await sub.wake.wait()
        except TimeoutError:
            waited = shown_seconds(timeout if named_timeout is None else named_timeout)
            if sub.record is None:
                raise TimeoutError(
                    f"document {document_id!r} was not started by a worker within {waited}"
                ) from None
            raise TimeoutError(
                f"document {document_id!r} still {sub.record.status.value} after {waited}"
            ) from None
        finally:
            self._unsubscribe(sub)

    async def follow(
        self, document_id: str, *, timeout: float | None
    ) -> AsyncIterator[EventRecord]:
        """See :meth:`docstate.Client.progress`."""
        sub = self._subscribe(document_id, events=True)
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while True:
                sub.wake.clear()
                if sub.error is not None:
                    raise sub.error
                while sub.buffer:
                    event = sub.buffer.popleft()
                    sub.consumed = event.seq
                    yield event
                record = sub.record
                if record is not None and record.status.closed and record.version <= sub.consumed:
                    return
                if sub.behind:  # drained after falling behind: catch up from the table now
                    sub.behind = False
                    self.poke([document_id])
                remaining = None if deadline is None else deadline - time.monotonic()
                try:
                    async with asyncio.timeout(remaining):
                        await sub.wake.wait()
                except TimeoutError:
                    raise TimeoutError(
                        f"document {document_id!r} has not ended after {shown_seconds(timeout)}"
                    ) from None
        finally:
            self._unsubscribe(sub)

    @property
    def watched(self) -> int:
        """Subscriptions currently served."""
        return sum(len(s) for s in self._subs.values())

    @property
    def running(self) -> bool:
        """Whether its reading task is alive (it ends soon after nothing is watched)."""
        return self._task is not None and not self._task.done()

    async def close(self) -> None:
        """Stop reading; waiters and streams still open end with an error."""
        task, self._task = self._task, None
        for subs in self._subs.values():
            for sub in subs:
                sub.error = RuntimeError("the client was closed")
                sub.wake.set()
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.listener is not None:
            await self.listener.stop()

    def _subscribe(self, document_id: str, *, events: bool) -> _Subscription:
        sub = _Subscription(document_id, events)
        self._subs.setdefault(document_id, set()).add(sub)
        self.poke([document_id])
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="docstate-watcher")
        return sub

    def _unsubscribe(self, sub: _Subscription) -> None:
        subs = self._subs.get(sub.document_id)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._subs[sub.document_id]
        if not self._subs:  # the task sees nothing is watched and ends (and stops listening)
            self.poke(())

    async def _run(self) -> None:
        while True:
            if not self._subs:
                if self.listener is not None:
                    await self.listener.stop()
                # no await from this check to the end of the task: a subscription that
                # comes after it finds the task done and starts a new one
                if not self._subs:
                    return
            pushed = self.listener is not None and await self.listener.ensure()
            tick = self.push_interval if pushed else self.interval
            ticked = False
            try:
                async with asyncio.timeout(tick):
                    await self._poke.wait()
            except TimeoutError:
                ticked = True  # nothing said what changed: read everything watched
            gap = self._last_read + self.min_gap - time.monotonic()
            if gap > 0:
                await asyncio.sleep(gap)
            # taken before reading: whatever commits from now on pokes again
            self._poke.clear()
            wanted, self._wanted = (None if ticked else self._wanted), set()
            if self._subs:
                await self._read(wanted)

    async def _read(self, wanted: set[str] | None) -> None:
        """One query for what changed: for the ``wanted`` documents watched, or for
        every watched document (``None``); none watched, no query."""
        # Served from this read: the subscriptions whose marks it asks with. One that
        # comes while it runs waits for the next read (its subscription poked), or it
        # would take events after somebody else's mark and miss those before.
        asked = self._subs.keys() if wanted is None else wanted & self._subs.keys()
        served = {doc: set(self._subs[doc]) for doc in asked}
        if not served:
            return
        self._last_read = time.monotonic()
        self.reads += 1
        if self.observer is not None:
            self.observer.read()
        marks = []
        for document_id, subs in served.items():
            versions, afters = zip(*(s.mark() for s in subs), strict=True)
            marks.append(Mark(document_id, min(versions), min(afters)))
        try:
            changes = await read_changes(self.engine, marks)
        except Exception as err:
            # whatever it is, waiters must not hang: as when each waiter queried for
            # itself, the error reaches the caller
            for subs in served.values():
                for sub in subs:
                    sub.error = err
                    sub.wake.set()
            return
        for change in changes:
            subs = served.get(change.record.id, set())
            if self.observer is not None:
                self._observe(self.observer, change.record, subs)
            for sub in subs:
                sub.take(change, self.buffer_limit)

    @staticmethod
    def _observe(
        observer: WatchObserver, record: DocumentRecord, subs: Iterable[_Subscription]
    ) -> None:
        """Report the lag of ``record``'s change (before ``subs`` take it) if it is new to
        one of them and happened while it watched: a row read again unchanged (a closed
        status awaiting confirmation) is no new delivery, and one read when someone starts
        watching may be hours old, which is no lag."""
        fresh = [s.since for s in subs if s.record != record]
        if not fresh:
            return
        changed = record.updated_at
        if changed.tzinfo is None:
            changed = changed.replace(tzinfo=UTC)  # SQLite hands back naive UTC
        if changed >= min(fresh):
            lag = (datetime.now(UTC) - changed).total_seconds()
            observer.delivered(max(0.0, lag))  # another host's clock may run ahead
