"""Outgoing notifications behind one small typed protocol (see README.md)."""

from notifiers.base import Channel, DeliveryResult, Notifier, OutgoingMessage, Recipient
from notifiers.channels import Channels, build_channels

__all__ = [
    "Channel",
    "Channels",
    "DeliveryResult",
    "Notifier",
    "OutgoingMessage",
    "Recipient",
    "build_channels",
]
