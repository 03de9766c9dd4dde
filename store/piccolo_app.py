"""Piccolo app config: the tables and the migrations folder of the app database."""

from pathlib import Path

from piccolo.conf.apps import AppConfig

from store.tables import ALL_TABLES

APP_CONFIG = AppConfig(
    app_name="store",
    migrations_folder_path=str(Path(__file__).parent / "migrations"),
    table_classes=list(ALL_TABLES),
    migration_dependencies=[],
    commands=[],
)
