"""Settings of the outbox dispatcher, read from ``AIMIS_DISPATCH_*`` environment variables."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class DispatchSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AIMIS_DISPATCH_", extra="ignore")

    poll_seconds: float = Field(0.5, description="How often the outbox is polled for due work.")
    concurrency: int = Field(
        4, description="Flow runs at the same time; 2 of them are kept for urgent kinds."
    )
    lease_seconds: float = Field(
        30, description="A claimed row is taken over by another dispatcher if not renewed."
    )
    max_attempts: int = Field(5, description="Failed attempts after which a row is failed.")
    backoff_seconds: float = Field(
        10, description="Wait after the first failed attempt; doubles each attempt."
    )
    backoff_max_seconds: float = Field(600, description="Longest wait between attempts.")
    retry_delays: list[float] = Field(
        [2, 5, 15], description="Waits between the retries of one IO step inside a flow run."
    )
    run_timeout_seconds: float = Field(
        300, description="A flow run still unfinished after this is cancelled and retried."
    )
    prefect_wait_seconds: float = Field(
        2, description="Wait before asking a Prefect API that did not answer again."
    )


@lru_cache(maxsize=1)
def get_dispatch_settings() -> DispatchSettings:
    return DispatchSettings()
