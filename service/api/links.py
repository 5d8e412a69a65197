"""Absolute links the API hands out (share links, webhook trigger URLs).

``VSM_PUBLIC_BASE_URL`` wins when set (behind a proxy or under another name, set it to the
address people use). Unset, a link uses the host the request came to: behind no proxy that is
the address the server listens on; uvicorn's ``--proxy-headers`` (on in ``vsm serve``) lets a
trusted proxy's ``X-Forwarded-Proto``/``X-Forwarded-Host`` through (``FORWARDED_ALLOW_IPS``).
Work without a request (webhook events sent by a worker) uses ``Settings.links_base_url``.
"""

from __future__ import annotations

from fastapi import Request

from service.settings import Settings


def public_base_url(request: Request) -> str:
    """The scheme, host and port links in answers to ``request`` start with (no trailing /)."""
    settings: Settings = request.app.state.runtime.settings
    configured = settings.public_base_url
    return (configured or str(request.base_url)).rstrip("/")
