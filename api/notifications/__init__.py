"""Notification management (SPEC 3.6, 8.8): hospital channels, rules, bindings, delivery log."""
