"""How far a provider fetch got, counted from the HTTP responses it receives: listing pages,
items, the provider's total, and the 429/5xx answers the connector retries.

An httpx response hook (``client.event_hooks["response"].append(tally.on_response)``), so the
clients need no change for it. The CLI draws it on a terminal; import jobs store it.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx

_MAX_PARSED_BYTES = 20 * 1024 * 1024  # a page larger than this is counted, not parsed


class FetchTally:
    """Pages and items fetched so far; ``total`` is None until a listing states it.

    ``on_page`` is called after each listing page is counted (to show or store progress).
    """

    def __init__(self, on_page: Callable[[FetchTally], None] | None = None) -> None:
        self.pages = 0
        self.items = 0
        self.retries = 0
        self._on_page = on_page
        # per listing path, the total its first page stated: a provider lists items, connectors
        # and tags side by side (in any order), and later sweeps of one path count one type
        self._totals: dict[str, int] = {}

    @property
    def total(self) -> int | None:
        """What the listings said they hold, summed over listings; None until one said."""
        return sum(self._totals.values()) if self._totals else None

    async def on_response(self, response: httpx.Response) -> None:
        status = response.status_code
        if status == 429 or status >= 500:
            self.retries += 1
            return
        if not 200 <= status < 300:
            return
        if "json" not in response.headers.get("content-type", ""):
            return
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > _MAX_PARSED_BYTES:
            self.pages += 1
            return
        await response.aread()
        try:
            body = response.json()
        except ValueError:
            return
        if not isinstance(body, dict):
            return
        listed = body.get("data", body.get("value"))
        if isinstance(listed, list):
            self.pages += 1
            self.items += len(listed)
            total = body.get("total")
            try:
                path = response.request.url.path
            except RuntimeError:  # a response built without its request (tests)
                path = ""
            if path not in self._totals and isinstance(total, int) and total >= 0:
                self._totals[path] = total
            if self._on_page is not None:
                self._on_page(self)
