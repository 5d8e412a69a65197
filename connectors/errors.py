"""One error tree for every provider and for dump files.

Callers branch on the class, never on provider status codes: a worker retries ``TransientError``,
waits out ``RateLimitedError``, marks the connection on ``AuthError`` and the board on
``NotFoundError``/``ForbiddenError``. Messages never contain tokens or secrets.
"""

from __future__ import annotations


class ConnectorError(Exception):
    """Base class of everything the connectors raise on purpose."""


class DumpError(ConnectorError):
    """A file or body is not a Miro or Mural dump (or is not JSON at all)."""


class ProviderError(ConnectorError):
    """A provider API call failed. ``status`` is the HTTP status when there was a response."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class TransientError(ProviderError):
    """5xx, timeout, connection reset: worth trying again later."""


class RateLimitedError(ProviderError):
    """429 or an exhausted budget; ``retry_after`` is seconds to wait before the next call."""

    def __init__(self, message: str, *, retry_after: float, status: int | None = 429) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


class AuthError(ProviderError):
    """The token is invalid, revoked or its refresh was refused: the user must re-consent."""


class ForbiddenError(ProviderError):
    """The token works but may not read this object (missing scope, private board)."""


class NotFoundError(ProviderError):
    """The board or mural does not exist (any more) or is invisible to this user."""
