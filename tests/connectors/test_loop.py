"""Provider calls from sync code share one event loop and one HTTP client per process."""

from __future__ import annotations

import asyncio
import threading

import httpx
import pytest

from connectors.errors import TransientError
from connectors.loop import ProviderHttp


def test_calls_from_several_threads_share_one_loop_and_one_client() -> None:
    made: list[httpx.AsyncClient] = []

    def factory() -> httpx.AsyncClient:
        made.append(httpx.AsyncClient())
        return made[-1]

    http = ProviderHttp(factory)
    seen: list[tuple[int, int]] = []

    async def where(client: httpx.AsyncClient) -> tuple[int, int]:
        return id(asyncio.get_running_loop()), id(client)

    def call() -> None:
        seen.append(http.run(where))

    threads = [threading.Thread(target=call) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    http.close()

    assert len(set(seen)) == 1
    assert len(made) == 1
    assert made[0].is_closed


def test_a_calls_error_reaches_the_caller_and_a_closed_value_starts_again() -> None:
    http = ProviderHttp(httpx.AsyncClient)

    async def fail(client: httpx.AsyncClient) -> None:
        raise TransientError("provider down")

    async def ok(client: httpx.AsyncClient) -> str:
        return "ok"

    with pytest.raises(TransientError, match="provider down"):
        http.run(fail)
    http.close()

    assert http.run(ok) == "ok"
    http.close()


def test_running_on_its_own_loop_is_refused_instead_of_deadlocking() -> None:
    http = ProviderHttp(httpx.AsyncClient)

    async def nested(client: httpx.AsyncClient) -> None:
        http.run(nested)

    with pytest.raises(RuntimeError, match="own event loop"):
        http.run(nested)
    http.close()


def test_a_calls_response_hook_sees_its_own_responses_only() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, text=request.url.path))
    http = ProviderHttp(lambda: httpx.AsyncClient(transport=transport))
    seen: list[str] = []

    async def note(response: httpx.Response) -> None:
        seen.append(response.request.url.path)

    async def get(path: str, client: httpx.AsyncClient) -> None:
        await client.get(f"https://provider.test{path}")

    http.run(lambda client: get("/watched", client), on_response=note)
    http.run(lambda client: get("/other", client))
    http.close()

    assert seen == ["/watched"]
