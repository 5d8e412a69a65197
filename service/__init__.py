"""Valuestream: REST API, persistence, settings and the pure domain core."""
