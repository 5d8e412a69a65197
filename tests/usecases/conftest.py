"""Fixtures of the use-case tests."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from service.db.tables import Workspace


@pytest.fixture
def workspace_id(db_session: Session) -> int:
    """A committed workspace's id."""
    workspace = Workspace(name="usecases")
    db_session.add(workspace)
    db_session.commit()
    assert workspace.id is not None
    return workspace.id
