"""Mural public API v1: wire models and normalization to the core board."""
