"""Blocking twins of async clients: an event loop in a thread of their own, and methods
made from the async ones (so the two cannot drift).

``SyncClient`` (of :class:`~docstate.Client`) and ``HttpClient`` (of
:class:`~docstate.http.AsyncHttpClient`) are made this way: each public coroutine method
becomes a blocking one and each async iterator an iterator, with the same parameters,
defaults and docstring. The loop runs in its own thread, so they also work where one is
already running (a Jupyter notebook).
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from types import TracebackType
from typing import Any, Concatenate, Generic, ParamSpec, Protocol, Self, TypeVar


class Closable(Protocol):
    async def close(self) -> None: ...


A = TypeVar("A", bound=Closable)
Owner = TypeVar("Owner")  # the class defining a method (the async client or one of its parts)
P = ParamSpec("P")
T = TypeVar("T")


class Portal(Generic[A]):
    """Drives an async object (``A``) from blocking code.

    Args:
        make: Builds the async object, on the portal's loop.
    """

    def __init__(self, make: Callable[[], Coroutine[Any, Any, A]]) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        try:
            self._async: A = self._run(make())
        except BaseException:
            self._stop()
            raise

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def _iterate(self, stream: AsyncIterator[T]) -> Iterator[T]:
        async def step() -> tuple[bool, T | None]:
            try:
                return True, await anext(stream)
            except StopAsyncIteration:
                return False, None

        async def close() -> None:
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                await aclose()

        try:
            while True:
                more, item = self._run(step())
                if not more:
                    return
                yield item  # type: ignore[misc]  # a T whenever `more` is true
        finally:
            self._run(close())

    def close(self) -> None:
        """Close the async object, then stop the loop."""
        self._run(self._async.close())
        self._stop()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()


def blocking(
    method: Callable[Concatenate[Owner, P], Coroutine[Any, Any, T]],
) -> Callable[Concatenate[Portal[Any], P], T]:
    """``method`` of the async object, run to completion on the portal's loop."""

    @functools.wraps(method)
    def call(self: Portal[Any], /, *args: P.args, **kwargs: P.kwargs) -> T:
        return self._run(method(self._async, *args, **kwargs))

    return call


def iterating(
    method: Callable[Concatenate[Owner, P], AsyncIterator[T]],
) -> Callable[Concatenate[Portal[Any], P], Iterator[T]]:
    """``method`` of the async object (an async iterator), stepped from the caller."""

    @functools.wraps(method)
    def call(self: Portal[Any], /, *args: P.args, **kwargs: P.kwargs) -> Iterator[T]:
        return self._iterate(method(self._async, *args, **kwargs))

    return call
