"""Miro REST API v2: wire models and normalization to the core board."""
