"""The web front door: server-rendered pages for people with a browser (no build step)."""
