"""Links the API hands out start with the address the request came to, or VSM_PUBLIC_BASE_URL."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from testkit.service_dumps import stream_dump
from tests.api.conftest import MakeClient, Workspace, import_dump

SERVER = "http://127.0.0.1:8123"  # not the default port 8000


@pytest.mark.parametrize(
    ("configured", "expected"),
    [(None, SERVER), ("https://vsm.example.test", "https://vsm.example.test")],
)
def test_share_and_trigger_links_use_the_servers_own_address_unless_configured(
    make_client: MakeClient, alice: Workspace, configured: str | None, expected: str
) -> None:
    with make_client(
        public_base_url=configured, encryption_keys=[Fernet.generate_key().decode()]
    ) as client:
        board = import_dump(client, alice, stream_dump(2))["board_id"]

        share = client.post(f"{SERVER}/v1/boards/{board}/share", headers=alice.headers)
        hook = client.post(f"{SERVER}/v1/boards/{board}/webhook-secret", headers=alice.headers)

    assert share.status_code == 201, share.text
    assert hook.status_code == 201, hook.text
    assert share.json()["url"].startswith(f"{expected}/v1/shared/")
    assert hook.json()["trigger_url"] == f"{expected}/v1/hooks/boards/{board}"
