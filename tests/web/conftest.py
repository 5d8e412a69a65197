"""The API fixtures (an app per test database, workspaces alice and bob) for the web pages."""

from tests.api.conftest import alice, bob, client, make_client

__all__ = ["alice", "bob", "client", "make_client"]
