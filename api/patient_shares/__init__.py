"""Patient share links (issue 15 point 6, SPEC 10.5): see README.md."""
