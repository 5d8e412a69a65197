"""Import job progress as people read it: ``fetching 3,200/15,147 items``, ``classifying``."""

from __future__ import annotations

PHASES = ("queued", "fetching", "reading", "classifying", "storing", "done")


def describe_progress(phase: str | None, done: int | None, total: int | None) -> str:
    """One short line for a job's phase and item counts (totals unknown: only what is done)."""
    label = phase or "queued"
    if done is None:
        return label
    if total is not None and total > 0:
        return f"{label} {min(done, total):,}/{total:,} items"
    return f"{label} {done:,} items"


def progress_percent(phase: str | None, done: int | None, total: int | None) -> int:
    """0..100 for a progress bar: fetching fills the first 70 %, the later phases the rest."""
    if phase in (None, "queued"):
        return 0
    if phase == "done":
        return 100
    if phase in ("fetching", "reading"):
        if done is None or not total:
            return 5
        return 5 + int(65 * min(done, total) / total)
    return {"classifying": 80, "storing": 95}.get(phase, 50)


def describe_job(status: str, phase: str | None, done: int | None, total: int | None) -> str:
    """The progress line of a job in ``status``: finished jobs say ``done`` or ``failed``."""
    if status in ("succeeded", "unchanged"):
        return "done"
    if status == "failed":
        return "failed"
    return describe_progress(phase if status == "running" else None, done, total)
