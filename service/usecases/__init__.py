"""Use cases: plain functions taking a session, called by routes, tasks and the CLI."""
