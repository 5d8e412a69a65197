"""Timestamps as text: every one a user or a program sees is UTC, written with ``Z``.

Every stored timestamp comes back aware (``service.db.tables.UTCDateTime``); a naive value here
is a bug upstream and raises ``ValueError`` rather than being read in the machine's zone.
"""

from __future__ import annotations

from datetime import UTC, datetime


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("a naive datetime has no zone to show: pass an aware one")
    return moment.astimezone(UTC)


def utc_iso(moment: datetime) -> str:
    """ISO 8601 with ``Z`` and the microseconds kept: ``2026-12-02T07:00:00.250000Z``."""
    return _utc(moment).isoformat().replace("+00:00", "Z")


def utc_seconds(moment: datetime) -> str:
    """ISO 8601 to the second with ``Z``, for listings: ``2026-12-02T07:00:00Z``."""
    return _utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ")


def utc_minutes(moment: datetime) -> str:
    """For people, to the minute: ``2026-12-02 07:00 UTC``."""
    return _utc(moment).strftime("%Y-%m-%d %H:%M UTC")
