"""Running coroutines from synchronous code, the blocking twins of async functions, and the
events of async work as a stream."""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
from collections.abc import AsyncGenerator, Awaitable, Callable, Coroutine
from typing import Any, Concatenate, ParamSpec, TypeVar

from xling.core.errors import XlingError

__all__ = ["blocking", "blocking_method", "event_stream", "run_sync"]

T = TypeVar("T")
S = TypeVar("S")
P = ParamSpec("P")


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Runs a coroutine to completion from synchronous code.

    Works both with no event loop (plain scripts, the CLI) and inside a running loop (Jupyter,
    an async web framework calling a sync API), where the coroutine runs on a worker thread.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _name_twin(twin: Callable[..., Any], afn: Callable[..., Any], role: str) -> None:
    # The twin of ``aname`` is ``name``: its signature (via __wrapped__) stays ``afn``'s.
    twin.__name__ = afn.__name__.removeprefix("a")
    owner, dot, _ = afn.__qualname__.rpartition(".")
    twin.__qualname__ = owner + dot + twin.__name__
    twin.__doc__ = f"Blocking :{role}:`{afn.__name__}`."


def blocking(
    afn: Callable[P, Coroutine[Any, Any, T]], *, close_first: bool = False
) -> Callable[P, T]:
    """The blocking twin of the coroutine function ``afn``: the same parameters, one place.

    Args:
        afn: The async function (named ``aname``; the twin is named ``name``).
        close_first: Await the first argument's ``aclose()`` after each call (an LLM client:
            its connections belong to the event loop the call ran on).
    """

    @functools.wraps(afn)
    def twin(*args: P.args, **kwargs: P.kwargs) -> T:
        async def once() -> T:
            try:
                return await afn(*args, **kwargs)
            finally:
                if close_first:
                    await args[0].aclose()  # type: ignore[attr-defined]

        return run_sync(once())

    _name_twin(twin, afn, "func")
    if close_first:
        twin.__doc__ = f"Blocking :func:`{afn.__name__}`; closes the first argument's connections."
    return twin


def blocking_method(
    afn: Callable[Concatenate[S, P], Coroutine[Any, Any, T]], *, closing: bool = False
) -> Callable[Concatenate[S, P], T]:
    """The blocking twin of the async method ``afn``, for a class body.

    The twin looks ``afn`` up by name on the instance, so a subclass overriding the async
    method gets a matching blocking one.

    Args:
        afn: The async method (named ``aname``; the twin is named ``name``).
        closing: Run the call through the instance's ``_closing(coro)``, which closes the
            connections bound to this call's event loop.
    """
    name = afn.__name__

    @functools.wraps(afn)
    def twin(self: S, *args: P.args, **kwargs: P.kwargs) -> T:
        coro = getattr(self, name)(*args, **kwargs)
        return run_sync(self._closing(coro) if closing else coro)  # type: ignore[attr-defined]

    _name_twin(twin, afn, "meth")
    return twin


Event = dict[str, Any]


async def event_stream(
    run: Callable[[Callable[[Event], Awaitable[None]]], Awaitable[Event]],
    render_error: Callable[[XlingError], str] = str,
) -> AsyncGenerator[Event, None]:
    """The events of a piece of work as they happen, then its last event.

    ``run`` is called with a callback that receives its events (``attempt``, ``token``, ...)
    and returns the final event (``done``); an :class:`~xling.core.errors.XlingError` it
    raises becomes ``{"event": "error", "detail": render_error(exc)}`` (a server renders it
    without internal addresses). Closing the iterator (a client that went away) cancels the
    work, and with it any request it has in flight.
    """
    queue: asyncio.Queue[Event | None] = asyncio.Queue()

    async def work() -> None:
        try:
            await queue.put(await run(queue.put))
        except XlingError as exc:
            await queue.put({"event": "error", "detail": render_error(exc)})
        finally:
            await queue.put(None)

    task = asyncio.create_task(work())
    try:
        while (item := await queue.get()) is not None:
            yield item
    finally:
        task.cancel()
