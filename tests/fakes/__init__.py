"""Fakes that are real servers on loopback: an SMTP server, an HTTP recorder, a TCP proxy."""
