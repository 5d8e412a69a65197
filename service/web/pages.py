"""Rendering a front-door page: the jinja2 environment (autoescape on: every board text is
untrusted) and the headers every page carries. Used by the pages of :mod:`service.web.routes`
and by API routes that answer a browser with a page (the OAuth callback)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, select_autoescape

from service.db.tables import ImportJob
from service.domain.progress import describe_job
from service.domain.utc import utc_minutes, utc_seconds
from service.providers import REGISTRY
from service.web.session import WebSession

PAGE_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
PROVIDERS = {registration.name: registration.label for registration in REGISTRY}
STATES = {"current": "Current state", "target": "Target state", "unspecified": "Value stream"}


def _utc(moment: datetime | None) -> str:
    return "" if moment is None else utc_minutes(moment)


def _iso(moment: datetime | None) -> str:
    return "" if moment is None else utc_seconds(moment)


def _progress_text(job: ImportJob) -> str:
    return describe_job(job.status, job.phase, job.items_done, job.items_total)


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("service.web", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(utc=_utc, iso=_iso, progress_text=_progress_text)
    env.globals.update(providers=PROVIDERS, states=STATES)
    return env


_templates = _environment()


def page(
    template: str, *, signed_in: WebSession | None, status: int = 200, **context: Any
) -> HTMLResponse:
    """A rendered template with the headers every front-door page carries."""
    body = _templates.get_template(template).render(signed_in=signed_in, **context)
    return HTMLResponse(
        body,
        status_code=status,
        headers={
            "Content-Security-Policy": PAGE_CSP,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "same-origin",
            "Cache-Control": "no-store",
        },
    )
