"""Prefect flows: the automated work (see README.md).

Prefect reads its settings when it is imported, so this package points it at the AIMIS
Prefect API first. An explicit ``PREFECT_API_URL`` (as a worker passes to its flow runs)
wins; without either Prefect would start a throw-away server of its own.
"""

import os

import store  # noqa: F401  (sets PICCOLO_CONF: flows open their own database access)
from kernel.settings import get_settings

os.environ.setdefault("PREFECT_API_URL", get_settings().prefect_api)
