"""Remote teaching (SPEC §5, issue 16): live courses, premium classes, learning records."""
