"""Prefect flows: the automated work (see README.md).

Prefect reads its settings when it is imported: the process that runs flows must have
``PREFECT_API_URL`` set before. A worker passes it to its flow runs; ``aimis`` commands set it
from ``AIMIS_PREFECT_API_URL`` at start (``aimis.cli.main``); without it Prefect would start a
throw-away server of its own.
"""
