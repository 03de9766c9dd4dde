"""Piccolo's configuration module (for its migration commands, ``store.migrate``): the one
engine of the process, built from the AIMIS settings (``store.db``)."""

from piccolo.conf.apps import AppRegistry

from store.db import ENGINE

DB = ENGINE
APP_REGISTRY = AppRegistry(apps=["store.piccolo_app"])
