"""Pictures of digitized value streams: SVG maps and a self-contained HTML report (pure core)."""
