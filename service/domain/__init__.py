"""The pure domain core: normalized board, classification, value streams, metrics. Imports no framework."""
