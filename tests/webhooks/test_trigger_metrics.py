"""``vsm_webhook_triggers``: every answered trigger counted once, by its outcome."""

from __future__ import annotations

import re

from pydantic import SecretStr

from testkit.service_dumps import stream_dump
from tests.api.conftest import MakeClient, Workspace, import_dump
from tests.webhooks.conftest import DEBOUNCE_S, KEY, HookedBoard

TOKEN = "metrics-token-for-trigger-tests"


def counted(text: str, outcome: str) -> float:
    found = re.search(rf'^vsm_webhook_triggers_total{{outcome="{outcome}"}} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


def test_triggers_are_counted_once_by_outcome(make_client: MakeClient, alice: Workspace) -> None:
    with make_client(
        encryption_keys=[KEY],
        metrics_token=SecretStr(TOKEN),
        webhooks={"debounce_s": DEBOUNCE_S * 20, "max_body_bytes": 1024},
    ) as client:
        job = import_dump(client, alice, stream_dump(2))
        board = HookedBoard(client, alice, job["board_id"], "")
        board.secret = board.rotate()["secret"]

        assert board.post().json()["outcome"] == "accepted"
        assert board.post().json()["outcome"] == "coalesced"
        assert board.post(secret="not-the-secret").status_code == 401
        assert board.post(body=b"{" + b" " * 2048 + b"}").status_code == 413
        text = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text

    assert counted(text, "accepted") == 1
    assert counted(text, "coalesced") == 1
    assert counted(text, "rejected") == 2
