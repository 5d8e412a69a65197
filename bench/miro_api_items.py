"""Run by bench/miro_import.py in the separate venv that has ``miro_api``: time its item loop.

Usage: ``python miro_api_items.py API_URL TOKEN BOARD_ID LIMIT`` (LIMIT ``default`` = the client's
default page size). Prints one JSON line: ``{"items": n, "seconds": t}``.
``miro_api`` pins urllib3 1.x, so it must not share the project's venv.
"""

from __future__ import annotations

import json
import sys
import time

from miro_api import MiroApi
from miro_api.configuration import Configuration


def main() -> None:
    api_url, token, board_id, limit = sys.argv[1:5]
    Configuration.set_default(Configuration(host=api_url))
    api = MiroApi(token)
    started = time.perf_counter()
    count = sum(1 for _ in api.get_all_items(board_id, limit=None if limit == "default" else limit))
    print(json.dumps({"items": count, "seconds": time.perf_counter() - started}))


if __name__ == "__main__":
    main()
