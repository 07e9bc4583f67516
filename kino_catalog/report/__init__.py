"""Project reports: SQL aggregates, and their rendering as text, CSV, Markdown and HTML."""
