"""Process entry point for uvicorn: ``uvicorn --factory service.api.main:app_from_env``."""

from __future__ import annotations

from fastapi import FastAPI

from service.api.app import create_app
from service.local_key import with_local_key
from service.settings import Settings


def app_from_env() -> FastAPI:
    """The API configured from ``VSM_*`` environment variables (one per uvicorn process)."""
    return create_app(with_local_key(Settings()))
