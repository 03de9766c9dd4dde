"""Sharing an examination with a colleague of the same hospital (SPEC 2.6, issue 5 item 8)."""
