"""The examination report (SPEC 2.4, 2.5): editing under a lock, initial diagnosis, review."""
