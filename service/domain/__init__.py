"""The pure domain core: board model, classification, value streams, metrics.

It imports no framework, database or HTTP client (an import-linter contract checks this).
"""
