"""Piccolo's configuration module: the engine comes from AIMIS settings."""

from piccolo.conf.apps import AppRegistry

from store.db import make_engine

DB = make_engine()
APP_REGISTRY = AppRegistry(apps=["store.piccolo_app"])
