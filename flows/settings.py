"""Moved to ``aimis.settings`` (one settings module); kept so existing imports still work."""

from aimis.settings import DispatchSettings, get_dispatch_settings

__all__ = ["DispatchSettings", "get_dispatch_settings"]
