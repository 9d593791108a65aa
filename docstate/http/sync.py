"""``HttpClient``: the blocking twin of :class:`AsyncHttpClient`, for scripts.

It is made from :class:`AsyncHttpClient` (:mod:`docstate.blocking`), not written again,
so the two cannot drift (``tests/test_layout.py`` checks every public method has its twin).
"""

from __future__ import annotations

from docstate.blocking import Portal, blocking, iterating
from docstate.http.client import AsyncHttpClient


async def _connect(base_url: str, api_key: str | None, timeout: float) -> AsyncHttpClient:
    # Made on the portal's loop, where its connections will live.
    return AsyncHttpClient(base_url, api_key=api_key, timeout=timeout)


class HttpClient(Portal[AsyncHttpClient]):
    """Blocking client of a DocState API server (same arguments and methods as
    :class:`AsyncHttpClient`); its event loop runs in a thread of its own, so it works
    where one already runs (a notebook)."""

    def __init__(self, base_url: str, *, api_key: str | None = None, timeout: float = 30.0):
        super().__init__(lambda: _connect(base_url, api_key, timeout))

    submit_job = blocking(AsyncHttpClient.submit_job)
    get_job_status = blocking(AsyncHttpClient.get_job_status)
    get_job_results = blocking(AsyncHttpClient.get_job_results)
    submit_and_wait = blocking(AsyncHttpClient.submit_and_wait)
    process = blocking(AsyncHttpClient.process)
    progress = blocking(AsyncHttpClient.progress)
    stream_progress = iterating(AsyncHttpClient.stream_progress)
    get = blocking(AsyncHttpClient.get)
    list = blocking(AsyncHttpClient.list)
    cancel = blocking(AsyncHttpClient.cancel)
    retry = blocking(AsyncHttpClient.retry)
    skip = blocking(AsyncHttpClient.skip)
    pause = blocking(AsyncHttpClient.pause)
    resume = blocking(AsyncHttpClient.resume)
    delete = blocking(AsyncHttpClient.delete)
    content = iterating(AsyncHttpClient.content)
    history = blocking(AsyncHttpClient.history)
    tree = blocking(AsyncHttpClient.tree)
    children = blocking(AsyncHttpClient.children)
    types = blocking(AsyncHttpClient.types)
