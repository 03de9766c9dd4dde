"""Outgoing notifications behind one small typed protocol (see README.md): ``base`` holds
the protocol and its types, ``channels`` builds the channels from the settings."""
