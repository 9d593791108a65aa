"""``SyncClient``: the client's methods for scripts and notebooks, without ``async``.

It is made from :class:`~docstate.Client` (:mod:`docstate.blocking`), not written again,
so the two cannot drift (``tests/test_layout.py`` checks every public method has its twin).
"""

from __future__ import annotations

from docstate.blocking import Portal, blocking, iterating
from docstate.client.client import Client
from docstate.config import Settings


class SyncClient(Portal[Client]):
    """Blocking twin of :class:`docstate.Client`; ``with SyncClient.connect() as ds: ...``.

    Its event loop runs in a thread of its own, so it also works where one is already
    running (a Jupyter notebook). Its methods are the client's (see there for each).
    """

    def __init__(self, settings: Settings | None = None) -> None:
        super().__init__(lambda: Client.connect(settings))

    @classmethod
    def connect(cls, settings: Settings | None = None) -> SyncClient:
        """Connect using ``settings`` (by default, from ``DOCSTATE_*`` variables)."""
        return cls(settings)

    submit = blocking(Client.submit)
    submit_many = blocking(Client.submit_many)
    submit_stream = iterating(Client.submit_stream)
    submit_and_wait = blocking(Client.submit_and_wait)
    get = blocking(Client.get)
    list = blocking(Client.list)
    list_page = blocking(Client.list_page)
    history = blocking(Client.history)
    children = blocking(Client.children)
    tree = blocking(Client.tree)
    path = blocking(Client.path)
    counts = blocking(Client.counts)
    content = iterating(Client.content)
    wait = blocking(Client.wait)
    progress = iterating(Client.progress)
    snapshot = blocking(Client.snapshot)
    moved_on = blocking(Client.moved_on)
    cancel = blocking(Client.cancel)
    retry = blocking(Client.retry)
    skip = blocking(Client.skip)
    pause = blocking(Client.pause)
    resume = blocking(Client.resume)
    step = blocking(Client.step)
