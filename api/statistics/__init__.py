"""Data statistics (SPEC 6): overview, charts with drill-down, downloads, turnaround."""
