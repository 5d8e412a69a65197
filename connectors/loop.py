"""Provider calls from synchronous code: one event loop and one HTTP client per process.

Use cases run in threads (FastAPI's sync routes, Celery tasks, the embedded worker) while the
provider clients are async. ``asyncio.run`` per call started a fresh loop and a fresh client
each time (new connections and TLS handshakes per call) and could not share loop-bound state.
:meth:`ProviderHttp.run` hands every call to one loop in a daemon thread instead, started on
first use and stopped by :meth:`ProviderHttp.close`; the calls share its client's pool. (anyio's
blocking portal does the same from a non-daemon executor thread, and a process that never
stopped it would hang at exit.)
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import TypeVar

import httpx

T = TypeVar("T")
ResponseHook = Callable[[httpx.Response], Awaitable[None]]

# The response hook of the call running in this task (and the tasks it starts): the client is
# shared, so a call's own hook cannot be one of the client's event hooks.
_CALL_HOOK: ContextVar[ResponseHook | None] = ContextVar("provider_call_hook", default=None)


async def _call_hook(response: httpx.Response) -> None:
    hook = _CALL_HOOK.get()
    if hook is not None:
        await hook(response)


class ProviderHttp:
    """The process's provider HTTP: ``run(call)`` awaits ``call(client)`` on the shared loop
    with the shared client. Calling the value itself (``http()``) still makes a new client
    from ``factory``, for code that runs its own loop."""

    def __init__(self, factory: Callable[[], httpx.AsyncClient]) -> None:
        self._factory = factory
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._client: httpx.AsyncClient | None = None

    def __call__(self) -> httpx.AsyncClient:
        return self._factory()

    def run(
        self,
        call: Callable[[httpx.AsyncClient], Awaitable[T]],
        *,
        on_response: ResponseHook | None = None,
    ) -> T:
        """``await call(client)`` on the process's loop; blocks this thread until it is done
        and returns its result or raises its exception. ``on_response`` sees every response
        of this call (progress counting), none of other calls. Not for use on that loop."""
        loop = self._started()
        if self._on_loop(loop):
            raise RuntimeError("ProviderHttp.run was called from its own event loop")
        return asyncio.run_coroutine_threadsafe(self._call(call, on_response), loop).result()

    def close(self) -> None:
        """Close the client and stop the loop; a later :meth:`run` starts them again."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None:
            return
        asyncio.run_coroutine_threadsafe(self._close_client(), loop).result()
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()

    async def _call(
        self, call: Callable[[httpx.AsyncClient], Awaitable[T]], on_response: ResponseHook | None
    ) -> T:
        if self._client is None:  # made on the loop it belongs to
            client = self._factory()
            hooks = client.event_hooks
            client.event_hooks = {**hooks, "response": [*hooks.get("response", []), _call_hook]}
            self._client = client
        _CALL_HOOK.set(on_response)  # this task's own context (run_coroutine_threadsafe)
        return await call(self._client)

    async def _close_client(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    def _started(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                # A daemon: a process that never calls close() still exits.
                thread = threading.Thread(
                    target=loop.run_forever, name="provider-http", daemon=True
                )
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    @staticmethod
    def _on_loop(loop: asyncio.AbstractEventLoop) -> bool:
        try:
            return asyncio.get_running_loop() is loop
        except RuntimeError:
            return False
