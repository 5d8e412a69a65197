"""/docs and /redoc load everything from this server: they work without internet."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_api_docs_load_their_assets_from_this_server(client: TestClient, page: str) -> None:
    html = client.get(page)
    urls = re.findall(r'(?:src|href)="([^"]+)"', html.text) + re.findall(
        r"url: '([^']+)'", html.text
    )
    assets = [client.get(url) for url in urls if url.startswith("/docs/assets/")]

    assert html.status_code == 200
    assert urls
    assert all(url.startswith("/") for url in urls), urls
    assert "fonts.googleapis" not in html.text
    assert assets
    assert all(asset.status_code == 200 and len(asset.content) > 1000 for asset in assets)
