"""The run report: one static HTML page (inline SVG, no scripts, no server) for an execution."""
