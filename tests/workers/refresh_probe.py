"""One process of the token-refresh race (tests/workers/test_provider_faults.py): builds the
runtime from ``VSM_*`` like a worker, readies ``argv[2]`` racers (threads, each with a token
provider of its own) for stored connection ``argv[1]``, prints ``ready``, waits for a line on
stdin, lets them all ask for the access token at once and prints one JSON line per racer,
``{"token": ...}`` or ``{"error": ...}``, after the marker line ``results``."""

from __future__ import annotations

import asyncio
import json
import sys
import threading
from typing import Any

from service.bootstrap import build
from service.settings import Settings


def main() -> None:
    connection_id, racers = int(sys.argv[1]), int(sys.argv[2])
    live = build(Settings()).providers["miro"].live
    assert live is not None, "Miro is not configured in this process"
    start = threading.Barrier(racers + 1)
    results: list[dict[str, Any]] = []

    def race() -> None:
        tokens = live.tokens(connection_id)  # what a fetch in a worker uses
        start.wait()
        try:
            results.append({"token": asyncio.run(tokens())})
        except Exception as exc:
            results.append({"error": f"{type(exc).__name__}: {exc}"})

    threads = [threading.Thread(target=race) for _ in range(racers)]
    for thread in threads:
        thread.start()
    print("ready", flush=True)
    sys.stdin.readline()
    start.wait()
    for thread in threads:
        thread.join()
    print("results", flush=True)
    for result in results:
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
