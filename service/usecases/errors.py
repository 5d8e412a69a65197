"""Errors the use cases raise on purpose; the shells map them to responses or exit codes."""

from __future__ import annotations


class UseCaseError(Exception):
    """Base class; the message is safe to show to the caller."""


class NotFoundError(UseCaseError):
    """The object does not exist, or belongs to another workspace (callers cannot tell)."""


class ConflictError(UseCaseError):
    """The request is valid but the object's state does not allow it now."""


class TooManyActiveError(UseCaseError):
    """The workspace has as many jobs queued or running as it may; ``retry_after_s`` is a hint."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class IdempotencyKeyReused(UseCaseError):
    """An idempotency key came again with a different request body."""
